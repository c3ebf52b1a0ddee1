import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../scripts/stack.ts';
import { useStack } from '../helpers/e2e.ts';

/**
 * The circuit breaker's whole cycle on the real stack. The broken scanner is a FAKE nmap (test/fakes: a script
 * that crashes by SIGSEGV), given with the runner's --nmap option: a crashing nmap is a fault we cannot cause
 * otherwise. (nmap exiting 1 on its own is nmap refusing the request, which the breaker does not count.)
 */
const stack = useStack();
const BROKEN_NMAP = join(ROOT, 'test', 'fakes', 'nmap-crashes.sh');

async function breakerOf(runnerId: string): Promise<any> {
  const { body } = await stack.api(stack.admin, 'GET', '/v1/breakers');
  return body.breakers.find((b: any) => b.runnerId === runnerId);
}

describe('circuit breaker (real wrangler dev, real runner)', () => {
  it('trips on a broken nmap, refuses with retryAfterSec, half-opens on its own, and closes on a good probe', async () => {
    // Threshold 2 and the shortest recovery the policy allows (30 s), set through the policy API.
    const put = await stack.api(stack.admin, 'PUT', '/v1/policy', {
      breaker: { failureThreshold: 2, recoveryTimeoutSec: 30 },
    });
    expect(put.status).toBe(200);
    const broken = await stack.readyRunner('flaky-runner', { nmap: BROKEN_NMAP });
    const token = await stack.mintToken('scan');
    const scan = () => stack.api(token, 'POST', '/v1/scans', { target: '127.0.0.1', args: '-sT -p 22', wait: 30 });

    for (let i = 1; i <= 2; i++) {
      const failed = await scan();
      expect(failed.body.scan.status).toBe('failed');
      expect(failed.body.scan.error.type).toBe('execution_error');
      expect(failed.body.scan.signal).toBe('SIGSEGV');
    }
    const opened = await breakerOf(broken.id);
    expect(opened).toMatchObject({ state: 'OPEN', consecutiveFailures: 2 });
    const openedAt = Date.now();

    const refused = await scan();
    expect(refused.status).toBe(503);
    expect(refused.body.error).toMatchObject({ type: 'circuit_breaker_open' });
    expect(refused.body.error.retryAfterSec).toBeGreaterThan(20);
    expect(refused.body.error.retryAfterSec).toBeLessThanOrEqual(33);
    expect(Number(refused.headers.get('retry-after'))).toBe(refused.body.error.retryAfterSec);

    // The same runner comes back with a working nmap (same token) while the breaker is still open.
    await broken.proc.stop('SIGTERM');
    const fixed = stack.runner({ tokenFile: broken.tokenFile, networks: ['127.0.0.0/8'] });
    await fixed.waitFor(/"event":"link\.ready"/, 20_000);
    expect((await breakerOf(broken.id)).state).toBe('OPEN');

    // No traffic: the alarm alone moves it to HALF_OPEN after 30 s ± 10 %.
    let halfOpen: any;
    while (!halfOpen) {
      const b = await breakerOf(broken.id);
      if (b.state === 'HALF_OPEN') halfOpen = b;
      else if (Date.now() - openedAt > 45_000) throw new Error(`never half-opened: ${JSON.stringify(b)}`);
      else await new Promise((r) => setTimeout(r, 500));
    }
    expect(Date.now() - openedAt).toBeGreaterThan(25_000);

    const probe = await scan();
    expect(probe.body.scan.status).toBe('succeeded');
    const closed = await breakerOf(broken.id);
    expect(closed).toMatchObject({ state: 'CLOSED', consecutiveFailures: 0 });
    expect(closed.transitions.map((t: any) => t.to)).toEqual(expect.arrayContaining(['OPEN', 'HALF_OPEN', 'CLOSED']));
  }, 90_000);
});
