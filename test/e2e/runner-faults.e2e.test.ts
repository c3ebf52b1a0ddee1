import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { processGone, useStack } from '../helpers/e2e.ts';

/**
 * Runner faults on the real stack: a runner killed with SIGKILL mid-scan, and a runner revoked while connected.
 * The lease is 5 s here so a lost runner is declared lost within the test.
 */
const stack = useStack({ LEASE_SEC: '5' });

/** The nmap started by a runner: its direct child (setpriv and prlimit exec into nmap, keeping the pid). */
function nmapChildOf(pid: number): number | undefined {
  try {
    const children = execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map(Number);
    return children.find((child) =>
      /nmap/.test(execFileSync('ps', ['-o', 'args=', '-p', String(child)], { encoding: 'utf8' })),
    );
  } catch {
    return undefined;
  }
}

async function until<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('runner faults (real wrangler dev, real runner, real nmap)', () => {
  it('kill -9 of the runner mid-scan: nmap dies with it, the scan becomes runner_lost within the lease, the breaker counts it', async () => {
    const { proc, id: runnerId } = await stack.readyRunner('killed-runner');
    const token = await stack.mintToken('scan');
    // ~30 s of scanning unless interrupted.
    const created = await stack.api(token, 'POST', '/v1/scans', {
      target: '127.0.0.1',
      args: '-sT -p 1-300 --scan-delay 100ms --max-retries 0',
    });
    expect(created.status).toBe(202);
    const id = created.body.scan.id as string;
    await stack.waitForScan(token, id, (s) => s.status === 'running');
    const nmap = await until('nmap to start', () => nmapChildOf(proc.pid));

    process.kill(proc.pid, 'SIGKILL');
    await until('nmap to die with its runner', () => processGone(nmap) || undefined, 5000);

    const lost = await stack.waitForScan(token, id, (s) => s.status === 'failed', 20_000);
    expect(lost.error).toMatchObject({ type: 'runner_lost' });
    expect(lost.error.recoverySuggestion).toBeTruthy();
    // Lost at its 5 s lease (the alarm), not at the scan's deadline: the edge says which.
    expect(lost.error.message).toMatch(/stayed away past its 5 s lease/);

    const { body } = await stack.api(stack.admin, 'GET', '/v1/breakers');
    const breaker = body.breakers.find((b: any) => b.runnerId === runnerId);
    expect(breaker.consecutiveFailures).toBe(1);
    expect(breaker.errors.at(-1).message).toMatch(/lease|lost/i);
    const runners = (await stack.api(stack.admin, 'GET', '/v1/runners')).body.runners;
    expect(runners.find((r: any) => r.id === runnerId)).toMatchObject({ online: false, running: 0 });
  });

  it('a revoked runner is cut off at once and cannot connect again', async () => {
    const { proc, id, tokenFile } = await stack.readyRunner('revoked-runner');
    const res = await stack.api(stack.admin, 'DELETE', `/v1/runners/${id}`);
    expect(res.status).toBe(200);
    // Exit code 3: token refused or revoked (a person must act; systemd does not restart on it).
    expect((await proc.exited).code).toBe(3);
    // At once: it never scheduled a reconnect (link.closed with reconnectInMs precedes every backoff).
    expect(proc.log).not.toMatch(/"reconnectInMs"/);
    expect(proc.log).toMatch(/revoked|token_rejected/);

    const again = stack.runner({ tokenFile, networks: ['127.0.0.0/8'] });
    expect((await again.exited).code).toBe(3);
    expect(again.log).toMatch(/"event":"link\.token_rejected"/);
    const runners = (await stack.api(stack.admin, 'GET', '/v1/runners')).body.runners;
    expect(runners.find((r: any) => r.id === id)).toMatchObject({ revoked: true, online: false });
  });
});
