import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RUNNER_VERSION } from '../../runner/link.ts';
import { Proc } from '../../scripts/stack.ts';
import { buildSea, sha256File, type BuiltSea } from '../../scripts/sea.ts';
import { uploadRunner } from '../../scripts/upload-runner.ts';
import { useBannerServer } from '../helpers/banner-server.ts';
import { Stack } from '../helpers/e2e.ts';

/**
 * The single executable (scripts/sea.ts) on a host with no Node: built once for this file, then run with a PATH
 * that holds only nmap, prlimit and setpriv, against the real edge (wrangler dev) and real nmap on 127.0.0.1. The
 * edge serves it from its local R2 bucket, filled by scripts/upload-runner.ts before wrangler dev starts.
 */
const SEA_BUILDABLE =
  process.platform === 'linux' &&
  (process.config.variables as Record<string, unknown>).single_executable_application === true;
if (!SEA_BUILDABLE)
  console.warn(
    `runner-sea: skipped: this Node (${process.execPath}, ${process.platform}) cannot build a Linux single executable (check: node -p process.config.variables.single_executable_application)`,
  );
const stack = new Stack({});
const banner = useBannerServer();
const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'scangate-sea-test-'));
/** The host's PATH: the runner's tools and nothing else (no node, no shell). */
const bin = join(dir, 'bin');
let sea: BuiltSea;

beforeAll(async () => {
  if (!SEA_BUILDABLE) return;
  mkdirSync(bin);
  for (const tool of ['nmap', 'prlimit', 'setpriv']) {
    const found = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();
    if (found) symlinkSync(found, join(bin, tool));
  }
  const started = Date.now();
  sea = await buildSea(join(dir, 'scangate-runner'));
  console.log(`runner-sea: built ${(sea.bytes / 2 ** 20).toFixed(0)} MiB in ${Date.now() - started} ms`);
  await uploadRunner({ file: sea.path, persistTo: join(stack.dir, 'state') });
  await stack.start();
}, 240_000);
afterAll(async () => {
  await stack.stop();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

/** The host's environment: nothing from this test's (no NODE_OPTIONS, no node on PATH). */
const hostEnv = () => ({ PATH: bin });

function runSea(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(sea.path, args, { env: hostEnv(), encoding: 'utf8' }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
}

describe.skipIf(!SEA_BUILDABLE)('the runner as a single executable, on a host without Node', () => {
  it('is built with its sha256sum line, and the host PATH really has no node', async () => {
    expect(readFileSync(sea.hashPath, 'utf8')).toBe(`${await sha256File(sea.path)}  scangate-runner\n`);
    expect(spawnSync('node', ['--version'], { env: hostEnv() }).error).toMatchObject({ code: 'ENOENT' });
  });

  it('says its version and runs doctor against the real edge with Node embedded', async () => {
    const version = await runSea(['--version']);
    expect(version).toMatchObject({ code: 0, stdout: `scangate-runner ${RUNNER_VERSION}\n` });

    const { tokenFile } = await stack.mintRunner('sea-doctor', ['127.0.0.1/32']);
    const report = await runSea([
      'doctor',
      '--server',
      stack.wsUrl,
      '--token-file',
      tokenFile,
      '--network',
      '127.0.0.1/32',
    ]);
    expect(report.stdout).toMatch(
      new RegExp(`^node\\s+ok\\s+Node ${process.versions.node.replaceAll('.', '\\.')} \\(${sea.path}\\)`, 'm'),
    );
    expect(report.stdout).toMatch(/^nmap\s+ok\s+/m);
    expect(report.stdout).toMatch(/^server\s+ok\s+.*token accepted: runner sea-doctor/m);
    expect(report.code).toBe(0);
  });

  it('runs a scan of 127.0.0.1 end to end and finds the open port', async () => {
    const { tokenFile } = await stack.mintRunner('sea-run', ['127.0.0.1/32']);
    const proc = new Proc(
      sea.path,
      ['run', '--server', stack.wsUrl, '--token-file', tokenFile, '--network', '127.0.0.1/32'],
      {
        env: hostEnv(),
      },
    );
    stack.procs.add(proc);
    await proc.waitFor(/"event":"link\.ready"/, 30_000);

    const scanToken = await stack.mintToken('scan');
    const res = await stack.api(scanToken, 'POST', '/v1/scans', {
      target: '127.0.0.1',
      args: `-sT -p ${banner.port()}`,
      wait: 60,
    });
    expect(res.status).toBe(202);
    expect(res.body.scan).toMatchObject({ status: 'succeeded', exitCode: 0 });
    const ports = res.body.scan.report.hosts.flatMap((h: { ports: unknown[] }) => h.ports);
    expect(ports).toContainEqual(expect.objectContaining({ port: banner.port(), state: 'open' }));
    await proc.stop('SIGTERM');
  });

  it('is what the edge serves from R2, with its hash', async () => {
    const res = await fetch(`${stack.url}/install/runner`);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-scangate-runner-sha256')).toBe(sea.sha256);
    const bytes = Buffer.from(await res.arrayBuffer());
    expect(bytes.length).toBe(sea.bytes);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(sea.sha256);
    expect(await (await fetch(`${stack.url}/install/runner.sha256`)).text()).toBe(`${sea.sha256}  scangate-runner\n`);
  });

  it('updates an installed (FAKE, older) runner from the real edge, itself without Node', async () => {
    const installed = join(dir, 'installed', 'scangate-runner');
    mkdirSync(join(dir, 'installed'));
    writeFileSync(installed, '#!/bin/sh\n# FAKE older runner\necho "scangate-runner 0.0.1"\n');
    chmodSync(installed, 0o755);
    const res = await runSea(['update', '--server', stack.wsUrl, '--path', installed]);
    expect(res.stdout).toContain(`replaced ${installed} with scangate-runner ${RUNNER_VERSION} (sha256 ${sea.sha256})`);
    expect(res.code).toBe(0);
    expect(await sha256File(installed)).toBe(sea.sha256);
    expect((await run(installed, ['--version'], { env: hostEnv(), encoding: 'utf8' })).stdout).toBe(
      `scangate-runner ${RUNNER_VERSION}\n`,
    );
  });
});
