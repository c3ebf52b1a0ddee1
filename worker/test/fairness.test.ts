import { env, runDurableObjectAlarm } from 'cloudflare:test';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { EdgeMessage, JobDispatch } from '../../shared/protocol/index.ts';
import { getCoordinator } from '../objects/coordinator.do.ts';
import { ADMIN, api, json, mintToken, runnersOnOwnNets } from './helpers/runner-client.ts';

/**
 * A scan token must not be able to hold every runner for an hour: scans with `timeoutSec: 3600` fill only the
 * token's share of the slots (policy perToken), the rest wait in the queue up to its own share of it, and another
 * token's scan still starts at once.
 */
const newRunner = runnersOnOwnNets('fair-runner', 250);
const isDispatch = (m: EdgeMessage): m is JobDispatch => m.type === 'job.dispatch';

async function setPerToken(perToken: Record<string, number>): Promise<void> {
  const res = await api('/v1/policy', { method: 'PUT', token: ADMIN, json: { perToken } });
  expect(res.status).toBe(200);
}

describe('fair share of runners and queue per token', () => {
  it('lets another token start while a hostile token floods hour-long scans', async () => {
    const { net, runner } = await newRunner({ maxConcurrency: 2 });
    await setPerToken({ maxConcurrentScans: 4, maxSlotSharePercent: 50, maxQueuedScans: 3 });
    onTestFinished(() => setPerToken({ maxConcurrentScans: 4, maxSlotSharePercent: 50, maxQueuedScans: 8 }));
    const hog = await mintToken('scan', `hog-${net}`);
    const other = await mintToken('scan', `other-${net}`);
    const long = (token: string) =>
      api('/v1/scans', {
        method: 'POST',
        token,
        json: { target: `127.${net}.0.1`, args: '-sT -p 1-65535', timeoutSec: 3600 },
      });

    const first = await json(await long(hog));
    await runner.next((m) => isDispatch(m) && m.jobId === first.scan.id);
    // Its share of a 2-slot runner is one scan: the next three wait, the fourth is refused with its own share of the queue.
    const waiting: Array<{ id: string; status: string }> = [];
    for (let i = 0; i < 3; i++) {
      const res = await long(hog);
      expect(res.status).toBe(202);
      waiting.push((await json(res)).scan);
    }
    expect(waiting.map((s) => s.status)).toEqual(['queued', 'queued', 'queued']);
    const refused = await long(hog);
    expect(refused.status).toBe(429);
    expect((await json(refused)).error).toMatchObject({
      type: 'rate_limited',
      message: expect.stringContaining('perToken.maxQueuedScans'),
    });

    // Another token is dispatched at once to the slot the hog may not take.
    const theirs = await json(await long(other));
    expect(theirs.scan.status).toBe('dispatched');
    await runner.next((m) => isDispatch(m) && m.jobId === theirs.scan.id);
    expect(runner.received.filter(isDispatch).map((d) => d.jobId)).toEqual([first.scan.id, theirs.scan.id]);

    // When the hog's running scan ends, its oldest waiting scan takes its slot (and the other token's slot is kept).
    runner.send({ type: 'job.accepted', jobId: first.scan.id });
    runner.finish(first.scan.id, ['done\n']);
    await runner.next((m) => isDispatch(m) && m.jobId === waiting[0]!.id);
    expect(runner.received.filter(isDispatch)).toHaveLength(3);
  });

  it("fails a scan that waited past the queue time on its own token's share with an error that says so", async () => {
    const { net, runner } = await newRunner({ maxConcurrency: 2 });
    const token = await mintToken('scan', `waiter-${net}`);
    const scan = () =>
      api('/v1/scans', { method: 'POST', token, json: { target: `127.${net}.0.1`, args: '-sT -p 22' } });
    const first = await json(await scan());
    await runner.next((m) => isDispatch(m) && m.jobId === first.scan.id);
    const waiting = (await json(await scan())).scan.id;
    // QUEUE_WAIT_SEC is 2 in tests: wait for it to pass, then let the alarm judge.
    const res = await api(`/v1/scans/${waiting}`, { token });
    const queuedUntil = Date.parse((await json(res)).scan.createdAt) + 2000;
    while (Date.now() <= queuedUntil) await new Promise((r) => setTimeout(r, queuedUntil - Date.now() + 10));
    await runDurableObjectAlarm(getCoordinator(env));
    const failed = (await json(await api(`/v1/scans/${waiting}`, { token }))).scan;
    expect(failed).toMatchObject({
      status: 'failed',
      error: { type: 'rate_limited', message: expect.stringContaining("This token's own running scans") },
    });
  });
});
