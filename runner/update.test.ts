import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { edgeOrigin } from './update.ts';

/**
 * `scangate-runner update` as a real process against a loopback HTTP server standing in for the edge's two
 * install routes (worker/http/routes/runner-dist.api.ts; served from real R2 in test/e2e/runner-sea.e2e.test.ts).
 * The runners served and installed are FAKE: shell scripts that say a version, so the test shows which is in place.
 */
const run = promisify(execFile);
const MAIN = new URL('./main.ts', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'scangate-update-test-'));
const installed = join(dir, 'scangate-runner');
const OLD_FAKE = '#!/bin/sh\n# FAKE installed runner\necho "scangate-runner 0.0.1"\n';
const NEW_FAKE = `#!/bin/sh\n# FAKE newer runner${' padding'.repeat(8192)}\necho "scangate-runner 9.9.9"\n`;
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** What the FAKE edge serves: the runner's bytes and the hash it claims for them. */
const served = { body: NEW_FAKE, hash: sha256(NEW_FAKE) };
let server: Server;
let origin = '';

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === '/install/runner.sha256') return res.end(`${served.hash}  scangate-runner\n`);
    if (req.url === '/install/runner') return res.end(served.body);
    res.statusCode = 404;
    res.end('no such route');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.close();
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  writeFileSync(installed, OLD_FAKE);
  chmodSync(installed, 0o750);
  served.body = NEW_FAKE;
  served.hash = sha256(NEW_FAKE);
});

function update(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(process.execPath, [MAIN, 'update', ...args], { encoding: 'utf8', env: { PATH: process.env.PATH } }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
}

const version = async (path: string) => (await run(path, ['--version'], { encoding: 'utf8' })).stdout.trim();
const leftovers = () => readdirSync(dir).filter((f) => f !== 'scangate-runner');

describe('scangate-runner update', () => {
  it('refuses a download whose hash is not the one the edge gives, and replaces nothing', async () => {
    served.hash = sha256('some other build');
    const res = await update(['--server', origin.replace('http', 'ws'), '--path', installed]);
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(
      /update refused: the download's sha256 is [0-9a-f]{64}, the edge says [0-9a-f]{64}: not installed; .* is unchanged/,
    );
    expect(readFileSync(installed, 'utf8')).toBe(OLD_FAKE);
    expect(await version(installed)).toBe('scangate-runner 0.0.1');
    expect(leftovers()).toEqual([]);
  });

  it('refuses a download that does not run, and replaces nothing', async () => {
    served.body = '\u007fELF FAKE truncated executable';
    served.hash = sha256(served.body);
    const res = await update(['--server', origin, '--path', installed]);
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/does not run here/);
    expect(readFileSync(installed, 'utf8')).toBe(OLD_FAKE);
    expect(leftovers()).toEqual([]);
  });

  it('installs the served runner when its hash matches, keeping the mode, and says how to restart', async () => {
    const res = await update(['--server', origin.replace('http', 'ws'), '--path', installed]);
    expect(res.stdout).toContain(`replaced ${installed} with scangate-runner 9.9.9 (sha256 ${served.hash})`);
    expect(res.stdout).toMatch(/systemd is not running this host \(PID 1\): restart the runner yourself/);
    expect(res.code).toBe(0);
    expect(await version(installed)).toBe('scangate-runner 9.9.9');
    expect(statSync(installed).mode & 0o777).toBe(0o750);
    expect(leftovers()).toEqual([]);

    const again = await update(['--server', origin, '--path', installed]);
    expect(again).toMatchObject({ code: 0 });
    expect(again.stdout).toMatch(/is already the runner .* serves .*: nothing to do/);
  });

  it('refuses an edge that serves no hash, and a bad server, with the reason', async () => {
    served.hash = 'not a hash';
    const res = await update(['--server', origin, '--path', installed]);
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/runner\.sha256 holds no SHA-256; .* is unchanged/);
    expect(readFileSync(installed, 'utf8')).toBe(OLD_FAKE);

    const plain = await update(['--server', 'ws://edge.example:8787', '--path', installed]);
    expect(plain.code).toBe(2);
    expect(plain.stderr).toMatch(/only on loopback; use wss:\/\/ or https:\/\//);
  });

  it('refuses with the reason when it cannot write beside the installed runner', async () => {
    const missing = join(dir, 'no-such-dir', 'scangate-runner');
    const res = await update(['--server', origin, '--path', missing]);
    expect(res.code).toBe(1);
    expect(res.stdout).toContain(`update refused: cannot write beside ${missing} (ENOENT)`);
  });

  it('maps a runner --server to the edge origin', () => {
    expect(edgeOrigin('wss://scangate.example.org/v1/runners/connect')).toBe('https://scangate.example.org');
    expect(edgeOrigin('ws://127.0.0.1:8787')).toBe('http://127.0.0.1:8787');
    expect(edgeOrigin('ftp://x')).toEqual({ problem: expect.stringMatching(/must be wss:\/\/ or https:\/\//) });
  });
});
