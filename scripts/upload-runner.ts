/**
 * `node scripts/upload-runner.ts [--remote | --persist-to DIR] [--file dist/scangate-runner]`: puts the single
 * executable and its sha256sum line into the R2 bucket GET /install/runner serves from (wrangler.toml RUNNER_DIST),
 * under this tree's version (shared/protocol/runner-version.ts). Local (wrangler dev's state) unless --remote.
 * MUST hold: what is uploaded says this tree's version when run (`--version`), and the hash uploaded is that of
 * the bytes uploaded, so the edge never serves one build under another's name.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { RUNNER_DIST_KEY, RUNNER_VERSION } from '../shared/protocol/runner-version.ts';
import { sha256File } from './sea.ts';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..');
const WRANGLER = join(ROOT, 'node_modules', 'wrangler', 'bin', 'wrangler.js');
const BUCKET = 'scangate-runner';
export const BUILT_RUNNER = join(ROOT, 'dist', 'scangate-runner');

export interface UploadOptions {
  file?: string;
  /** wrangler dev's --persist-to (local R2); ignored with `remote`. */
  persistTo?: string;
  remote?: boolean;
}

/** Uploads the executable and its hash; returns the hash. Throws with the reason when the file is not this build. */
export async function uploadRunner(options: UploadOptions = {}): Promise<string> {
  const file = options.file ?? BUILT_RUNNER;
  if (!existsSync(file)) throw new Error(`${file} does not exist: run npm run build:runner first`);
  const said = await run(file, ['--version'], { encoding: 'utf8' }).then(
    (r) => r.stdout.trim(),
    (e: Error) => `(does not run here: ${e.message})`,
  );
  if (said !== `scangate-runner ${RUNNER_VERSION}`)
    throw new Error(`${file} says ${said}, not scangate-runner ${RUNNER_VERSION}: run npm run build:runner again`);
  const hash = await sha256File(file);
  const where = options.remote
    ? ['--remote']
    : ['--local', ...(options.persistTo ? ['--persist-to', options.persistTo] : [])];
  const hashFile = join(mkdtempSync(join(tmpdir(), 'scangate-upload-')), 'scangate-runner.sha256');
  writeFileSync(hashFile, `${hash}  scangate-runner\n`);
  const put = (key: string, path: string, type: string) =>
    run(
      process.execPath,
      [WRANGLER, 'r2', 'object', 'put', `${BUCKET}/${key}`, '--file', path, '--ct', type, ...where],
      {
        cwd: ROOT,
        env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
        maxBuffer: 16 * 2 ** 20,
      },
    );
  // The executable first: until its hash is there too, the edge answers 404 rather than an unchecked download.
  await put(RUNNER_DIST_KEY, file, 'application/octet-stream');
  await put(`${RUNNER_DIST_KEY}.sha256`, hashFile, 'text/plain');
  rmSync(dirname(hashFile), { recursive: true, force: true });
  return hash;
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const value = (flag: string) => {
    const i = args.indexOf(flag);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const file = value('--file');
  const persistTo = value('--persist-to');
  uploadRunner({ remote: args.includes('--remote'), ...(file && { file }), ...(persistTo && { persistTo }) }).then(
    (hash) => console.log(`uploaded ${RUNNER_DIST_KEY} (sha256 ${hash})`),
    (e: Error) => {
      console.error(`upload-runner: ${e.message}`);
      process.exit(1);
    },
  );
}
