import { Hono } from 'hono';
import { ScangateError, scanError } from '../../../shared/errors/index.ts';
import { parseSha256Line, RUNNER_DIST_KEY, RUNNER_VERSION } from '../../../shared/protocol/runner-version.ts';
import type { AppEnv } from '../auth.ts';

/**
 * `GET /install/runner` and `GET /install/runner.sha256`: the runner this edge was built with, as the single
 * executable (Linux x64, Node embedded), and its sha256sum line. No token: the program is not a secret, and a host
 * downloads it before it has one. The executable (~120 MB) is over the Worker bundle and static-asset per-file
 * limits, so it lives in R2 (binding RUNNER_DIST), keyed by version: scripts/upload-runner.ts fills it at deploy
 * and `npm start`. MUST hold: both answers come from the same build (the hash is the one uploaded with it), and a
 * missing upload is a clear 404, never another version's bytes.
 */
export const runnerDistApi = new Hono<AppEnv>();

const HASH_KEY = `${RUNNER_DIST_KEY}.sha256`;

function notUploaded(): never {
  throw new ScangateError(
    scanError(
      'not_found',
      `This edge has no runner ${RUNNER_VERSION} executable to serve`,
      'Build and upload it: npm run build:runner, then node scripts/upload-runner.ts (--remote for a deployed edge).',
      { details: { key: RUNNER_DIST_KEY } },
    ),
  );
}

async function uploadedHash(bucket: R2Bucket): Promise<string> {
  const line = await bucket.get(HASH_KEY);
  const hash = line ? parseSha256Line(await line.text()) : null;
  return hash ?? notUploaded();
}

runnerDistApi.get('/install/runner.sha256', async (c) => {
  const hash = await uploadedHash(c.env.RUNNER_DIST);
  return c.text(`${hash}  scangate-runner\n`, 200, {
    'cache-control': 'no-cache',
    'x-scangate-runner-version': RUNNER_VERSION,
  });
});

runnerDistApi.get('/install/runner', async (c) => {
  const hash = await uploadedHash(c.env.RUNNER_DIST);
  const object = await c.env.RUNNER_DIST.get(RUNNER_DIST_KEY);
  if (!object) notUploaded();
  return new Response(object.body, {
    headers: {
      'content-type': 'application/octet-stream',
      'content-length': String(object.size),
      'content-disposition': 'attachment; filename="scangate-runner"',
      'cache-control': 'no-cache',
      etag: object.httpEtag,
      'x-scangate-runner-version': RUNNER_VERSION,
      'x-scangate-runner-sha256': hash,
    },
  });
});
