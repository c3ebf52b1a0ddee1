import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { RUNNER_DIST_KEY, RUNNER_VERSION } from '../../../shared/protocol/runner-version.ts';
import { api, json } from '../../test/helpers/runner-client.ts';

/** GET /install/runner(.sha256) in real workerd, from the real R2 binding (local R2), with a FAKE executable in it. */
async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', bytes);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

describe('serving the runner from R2', () => {
  it('answers 404 with the fix while nothing is uploaded, never another build', async () => {
    await env.RUNNER_DIST.put('runner/0.0.1/linux-x64/scangate-runner', 'FAKE older runner');
    for (const path of ['/install/runner', '/install/runner.sha256']) {
      const res = await api(path);
      expect(res.status).toBe(404);
      const body = await json(res);
      expect(body.error).toMatchObject({ type: 'not_found', details: { key: RUNNER_DIST_KEY } });
      expect(body.error.recoverySuggestion).toMatch(/npm run build:runner.*upload-runner/);
    }
  });

  it('serves the executable of its own version with its hash, in a header and as a sha256sum line', async () => {
    const fake = new TextEncoder().encode(`#!/bin/sh\n# FAKE scangate-runner ${'x'.repeat(70_000)}\n`);
    const hash = await sha256Hex(fake);
    await env.RUNNER_DIST.put(RUNNER_DIST_KEY, fake);
    await env.RUNNER_DIST.put(`${RUNNER_DIST_KEY}.sha256`, `${hash}  scangate-runner\n`);

    const res = await api('/install/runner');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    expect(res.headers.get('x-scangate-runner-version')).toBe(RUNNER_VERSION);
    expect(res.headers.get('x-scangate-runner-sha256')).toBe(hash);
    const body = new Uint8Array(await res.arrayBuffer());
    expect(await sha256Hex(body)).toBe(hash);
    expect(body.byteLength).toBe(fake.byteLength);

    const line = await api('/install/runner.sha256');
    expect(line.status).toBe(200);
    expect(await line.text()).toBe(`${hash}  scangate-runner\n`);
  });
});
