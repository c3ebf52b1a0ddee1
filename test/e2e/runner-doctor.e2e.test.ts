import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { useBannerServer } from '../helpers/banner-server.ts';
import { useStack } from '../helpers/e2e.ts';

/**
 * `scangate-runner doctor` against the real edge (wrangler dev), on a host whose runner is live with the same
 * token: doctor checks the token through the read-only self-check and the live runner keeps its link.
 */
const stack = useStack();
const banner = useBannerServer();
const run = promisify(execFile);
const MAIN = new URL('../../runner/main.ts', import.meta.url).pathname;

function doctor(args: string[]): Promise<{ code: number; stdout: string }> {
  return run(process.execPath, [MAIN, 'doctor', ...args], { encoding: 'utf8' }).then(
    (r) => ({ code: 0, stdout: r.stdout }),
    (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }),
  );
}

describe('doctor on the real edge', () => {
  it('checks the token of a live runner without kicking it off: no link-down, still online, still scanning', async () => {
    const { proc, id, tokenFile } = await stack.readyRunner('doctor-live');
    const logBefore = proc.log.length;
    // As the service reads it: the env file the systemd unit uses.
    const envFile = join(stack.dir, 'runner.env');
    writeFileSync(
      envFile,
      `SCANGATE_SERVER=${stack.wsUrl}\nSCANGATE_TOKEN_FILE=${tokenFile}\nSCANGATE_NETWORKS=127.0.0.0/8\n`,
      { mode: 0o600 },
    );

    const report = await doctor(['--env-file', envFile]);
    expect(report.stdout).toMatch(
      /^environment\s+ok\s+read .*runner\.env \(SCANGATE_SERVER, SCANGATE_TOKEN_FILE, SCANGATE_NETWORKS\)$/m,
    );
    expect(report.stdout).toMatch(/^token\s+ok\s+/m);
    expect(report.stdout).toMatch(
      new RegExp(`^server\\s+ok\\s+.*token accepted: runner doctor-live \\(${id}\\), pool default$`, 'm'),
    );
    expect(report.stdout).toMatch(
      /^link\s+ok\s+a runner is connected with this token now \(runner 0\.1\.0, nmap 7\.\d+, .*networks 127\.0\.0\.0\/8\); doctor left its link alone$/m,
    );
    expect(report.stdout).toMatch(/^protocol\s+ok\s+/m);
    expect(report.stdout).toMatch(/^networks\s+ok\s+declared 127\.0\.0\.0\/8, inside the grant \(127\.0\.0\.0\/8\)$/m);
    expect(report.code).toBe(0);

    // The runner's link carried on: a scan runs on it now. Had doctor replaced the link, the runner would have
    // logged the close (and its reconnect) before this scan could reach it.
    const scanToken = await stack.mintToken('scan');
    const created = await stack.api(scanToken, 'POST', '/v1/scans', {
      target: '127.0.0.1',
      args: `-sT -p ${banner.port()}`,
    });
    expect(created.status).toBe(202);
    const done = await stack.waitForScan(
      scanToken,
      created.body.scan.id,
      (s) => s.status === 'succeeded' || s.status === 'failed',
    );
    expect(done.status).toBe('succeeded');
    expect(proc.log.slice(logBefore)).not.toMatch(/"event":"link\.(closed|connecting|error)"/);
    const runners = (await stack.api(stack.admin, 'GET', '/v1/runners')).body.runners;
    expect(runners.find((r: { id: string }) => r.id === id)).toMatchObject({ online: true });
  });

  it('declared networks wider than the grant fail before run would be refused; a revoked token fails as refused', async () => {
    const minted = await stack.mintRunner('doctor-narrow', ['127.0.0.0/16']);
    const wide = await doctor(['--server', stack.wsUrl, '--token-file', minted.tokenFile, '--network', '127.0.0.0/8']);
    expect(wide.code).toBe(1);
    expect(wide.stdout).toMatch(
      /^networks\s+FAIL\s+declares 127\.0\.0\.0\/8, which was not granted to this runner \(granted: 127\.0\.0\.0\/16\)/m,
    );
    expect(wide.stdout).toMatch(/^link\s+warn\s+no runner is connected with this token \(never connected\)$/m);
    expect((await stack.api(stack.admin, 'DELETE', `/v1/runners/${minted.id}`)).status).toBe(200);
    const revoked = await doctor([
      '--server',
      stack.wsUrl,
      '--token-file',
      minted.tokenFile,
      '--network',
      '127.0.0.0/16',
    ]);
    expect(revoked.code).toBe(1);
    expect(revoked.stdout).toMatch(/^server\s+FAIL\s+.*token refused \(HTTP 401\)/m);
  });
});
