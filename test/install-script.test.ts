import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runnerInstallScript } from '../worker/http/routes/install-script.ts';

/**
 * The install script the edge serves (`GET /install/runner.sh`), run by `sh` as `curl … | sudo sh -s -- …` runs
 * it, against a FAKE edge: a loopback HTTP server that serves a FAKE runner (a shell script that records the
 * arguments it was started with) at /install/runner and its SHA-256 at /install/runner.sha256, the routes the
 * real edge serves the built runner at. The script must verify the hash before running anything.
 */
const dir = mkdtempSync(join(tmpdir(), 'scangate-install-sh-'));
const record = join(dir, 'fake-runner-args');
const FAKE_RUNNER = `#!/bin/sh\n# FAKE runner: records its arguments, one a line\nprintf '%s\\n' "$@" > '${record}'\n`;
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

let served = { runner: FAKE_RUNNER, sha: `${sha256(FAKE_RUNNER)}  scangate-runner\n` };
let server: Server;
let origin = '';

beforeAll(async () => {
  // FAKE edge: only the two download routes.
  server = createServer((req, res) => {
    if (req.url === '/install/runner') res.end(served.runner);
    else if (req.url === '/install/runner.sha256') res.end(served.sha);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

/** Pipes the script into `sh -s -- args`, as the README's one-liner does. */
function pipeToSh(script: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  rmSync(record, { force: true });
  const child = spawn('sh', ['-s', '--', ...args], { env: { PATH: process.env.PATH, SCANGATE_INSTALL_ROOT: dir } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  child.stdin.end(script);
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

const recorded = () => readFileSync(record, 'utf8').trimEnd().split('\n');

describe('GET /install/runner.sh', () => {
  it('is valid POSIX sh (sh -n), and dash parses it too', () => {
    const file = join(dir, 'runner.sh');
    writeFileSync(file, runnerInstallScript('https://scangate.example.org'));
    for (const shell of ['sh', 'dash']) {
      const result = spawnSync(shell, ['-n', file], { encoding: 'utf8' });
      if (result.error && shell === 'dash') continue; // no dash here: sh was checked
      expect([shell, result.status, result.stderr]).toEqual([shell, 0, '']);
    }
  });

  it('downloads the runner, checks its SHA-256 and runs install with the arguments, adding this edge as --server', async () => {
    const out = await pipeToSh(runnerInstallScript(origin), ['--enroll', 'sge_0abc', '--network', '10.20.0.0/16']);
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    expect(out.stdout).toContain(`sha256 ok: ${sha256(FAKE_RUNNER)}`);
    expect(recorded()).toEqual([
      'install',
      '--server',
      origin.replace(/^http/, 'ws'),
      '--enroll',
      'sge_0abc',
      '--network',
      '10.20.0.0/16',
    ]);
  });

  it('passes a given --server through unchanged', async () => {
    const out = await pipeToSh(runnerInstallScript(origin), ['--server', 'wss://other.example', '--enroll', 'x']);
    expect(out.code).toBe(0);
    expect(recorded()).toEqual(['install', '--server', 'wss://other.example', '--enroll', 'x']);
  });

  it('refuses a runner whose SHA-256 does not match, and runs nothing', async () => {
    served = { runner: `${FAKE_RUNNER}# tampered\n`, sha: `${sha256(FAKE_RUNNER)}\n` };
    try {
      const out = await pipeToSh(runnerInstallScript(origin), ['--enroll', 'sge_0abc']);
      expect(out.code).toBe(1);
      expect(out.stderr).toMatch(
        /scangate install: the runner's SHA-256 is [0-9a-f]{64}, the edge says [0-9a-f]{64}: refusing to run it/,
      );
      expect(() => readFileSync(record)).toThrow();
    } finally {
      served = { runner: FAKE_RUNNER, sha: `${sha256(FAKE_RUNNER)}  scangate-runner\n` };
    }
  });

  it('refuses when the edge serves no hash, or no runner', async () => {
    served = { runner: FAKE_RUNNER, sha: 'not a hash\n' };
    try {
      const out = await pipeToSh(runnerInstallScript(origin), []);
      expect(out.code).toBe(1);
      expect(out.stderr).toContain('the edge sent no SHA-256 for the runner');
      expect(() => readFileSync(record)).toThrow();
    } finally {
      served = { runner: FAKE_RUNNER, sha: `${sha256(FAKE_RUNNER)}  scangate-runner\n` };
    }
    const missing = await pipeToSh(runnerInstallScript(`${origin}/nothing-here`), []);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('download of');
    expect(() => readFileSync(record)).toThrow();
  });
});
