import { env, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { EdgeMessage, JobDispatch } from '../../shared/protocol/index.ts';
import { type Coordinator, getCoordinator } from '../objects/coordinator.do.ts';
import { ADMIN, api, json, mintToken, runnersOnOwnNets, type TestRunner } from './helpers/runner-client.ts';

const newRunner = runnersOnOwnNets('scans-runner', 100);
async function setup(hello: Parameters<typeof TestRunner.ready>[1] = {}) {
  const { net, minted, runner } = await newRunner(hello);
  const token = await mintToken('scan');
  const scan = async (body: Record<string, unknown> = {}, headers: Record<string, string> = {}) => {
    const res = await api('/v1/scans', {
      method: 'POST',
      token,
      headers,
      json: { target: `127.${net}.0.1`, args: '-sT -p 22', ...body },
    });
    return { status: res.status, headers: res.headers, body: await json(res) };
  };
  return { net, minted, runner, token, scan };
}

const isDispatch = (m: EdgeMessage): m is JobDispatch => m.type === 'job.dispatch';
const dispatches = (runner: TestRunner) => runner.received.filter(isDispatch);

/** A runner-health failure: nmap died by a signal nobody asked for (a crash). */
async function failJob(runner: TestRunner, jobId: string) {
  runner.finish(jobId, ['fake failure\n'], { exitCode: null, signal: 'SIGSEGV' });
  await runner.next((m) => m.type === 'ack' && m.jobId === jobId && m.seq === 2);
}

/** Moves a runner's half-open time into the past, standing in for the 30 s minimum wait, then runs the alarm. */
async function elapseRecovery(runnerId: string) {
  await runInDurableObject(getCoordinator(env), (coordinator: Coordinator, state) => {
    state.storage.sql.exec(
      "UPDATE runners SET breaker = json_set(breaker, '$.halfOpenAt', ?) WHERE id = ?",
      Date.now() - 1,
      runnerId,
    );
    coordinator.dropCaches();
  });
  await runDurableObjectAlarm(getCoordinator(env));
}

async function breakerOf(runnerId: string) {
  return (await json(await api('/v1/breakers', { token: ADMIN }))).breakers.find(
    (b: { runnerId: string }) => b.runnerId === runnerId,
  );
}

describe('routing through the API', () => {
  it('refuses targets no connected runner covers, naming the networks that are served', async () => {
    const { scan, net } = await setup();
    const res = await scan({ target: '10.9.9.9' });
    expect(res.status).toBe(503);
    expect(res.body.error.type).toBe('no_runner');
    expect(res.body.error.recoverySuggestion).toContain(`127.${net}.0.0/16`);
  });

  it('dispatches the long explicit --script list of a category (-sC) to the runner', async () => {
    const { scan, runner } = await setup();
    const created = await scan({ args: '-sT -sC -p 22' });
    expect(created.status).toBe(202);
    const dispatch = (await runner.next((m) => isDispatch(m) && m.jobId === created.body.scan.id)) as JobDispatch;
    const list = dispatch.argv[dispatch.argv.indexOf('--script') + 1]!;
    expect(list.length).toBeGreaterThan(255);
    expect(list.split(',')).toContain('http-title');
  });

  it('refuses raw scans when only unprivileged runners cover the targets', async () => {
    const { scan } = await setup({ privileged: false });
    const res = await scan({ args: '-sS -p 22' });
    expect(res.status).toBe(503);
    expect(res.body.error.message).toMatch(/raw sockets/);
  });
});

describe('the edge enforces deadlines and liveness itself', () => {
  /** Moves a job's dispatch time back by `ms`, standing in for that much time passing, then runs the alarm. */
  async function age(jobId: string, ms: number) {
    await runInDurableObject(getCoordinator(env), (coordinator: Coordinator, state) => {
      state.storage.sql.exec('UPDATE jobs SET dispatched_at = dispatched_at - ? WHERE id = ?', ms, jobId);
      coordinator.dropCaches();
    });
    await runDurableObjectAlarm(getCoordinator(env));
  }

  it('fails a job whose runner never reports past its timeout and the grace, and tells the runner to cancel', async () => {
    const { runner, scan, minted } = await setup();
    const id = (await scan({ timeoutSec: 5 })).body.scan.id;
    await runner.next((m) => isDispatch(m) && m.jobId === id);
    // Inside the timeout plus grace (5 s + 30 s): nothing happens.
    await age(id, 20_000);
    expect((await json(await api(`/v1/scans/${id}`, { token: ADMIN }))).scan.status).toBe('dispatched');
    await age(id, 20_000);
    expect(await runner.next((m) => m.type === 'job.cancel' && m.jobId === id)).toMatchObject({ jobId: id });
    const failed = (await json(await api(`/v1/scans/${id}`, { token: ADMIN }))).scan;
    expect(failed).toMatchObject({ status: 'failed', error: { type: 'timeout' } });
    expect(failed.error.message).toMatch(/did not report the end of this scan/);
    expect((await breakerOf(minted.id)).consecutiveFailures).toBe(1);
  });

  it("closes a silent runner's link after three missed heartbeats, so its jobs start their lease", async () => {
    const { runner, scan, minted } = await setup();
    const id = (await scan()).body.scan.id;
    await runner.next((m) => isDispatch(m) && m.jobId === id);
    await runInDurableObject(getCoordinator(env), (coordinator: Coordinator, state) => {
      state.storage.sql.exec('UPDATE runners SET last_seen = ? WHERE id = ?', Date.now() - 100_000, minted.id);
      coordinator.dropCaches();
    });
    await runDurableObjectAlarm(getCoordinator(env));
    expect((await runner.closedWith()).code).toBe(4008);
    const listed = await json(await api('/v1/runners', { token: ADMIN }));
    expect(listed.runners.find((r: { id: string }) => r.id === minted.id).online).toBe(false);
    await runInDurableObject(getCoordinator(env), (_coordinator: Coordinator, state) => {
      const row = state.storage.sql
        .exec<{ lease_until: number | null }>('SELECT lease_until FROM jobs WHERE id = ?', id)
        .one();
      expect(row.lease_until).not.toBeNull();
    });
  });

  it('leaves a runner that answers its pings alone', async () => {
    const { runner, minted } = await setup();
    runner.ping();
    await runner.next((m) => (m as { type: string }).type === 'pong');
    await runInDurableObject(getCoordinator(env), (coordinator: Coordinator, state) => {
      state.storage.sql.exec('UPDATE runners SET last_seen = ? WHERE id = ?', Date.now() - 100_000, minted.id);
      coordinator.dropCaches();
    });
    await runDurableObjectAlarm(getCoordinator(env));
    const listed = await json(await api('/v1/runners', { token: ADMIN }));
    expect(listed.runners.find((r: { id: string }) => r.id === minted.id).online).toBe(true);
  });
});

describe('circuit breaker per runner', () => {
  it('CLOSED → OPEN after the threshold → HALF_OPEN by alarm → one probe → CLOSED', async () => {
    const { runner, scan, minted } = await setup();
    await api('/v1/policy', {
      method: 'PUT',
      token: ADMIN,
      json: { breaker: { failureThreshold: 2, recoveryTimeoutSec: 30 } },
    });
    onTestFinished(async () => {
      await api('/v1/policy', {
        method: 'PUT',
        token: ADMIN,
        json: { breaker: { failureThreshold: 5, recoveryTimeoutSec: 120 } },
      });
    });
    for (let i = 0; i < 2; i++) {
      const id = (await scan()).body.scan.id;
      await runner.next((m) => isDispatch(m) && m.jobId === id);
      await failJob(runner, id);
    }
    let b = await breakerOf(minted.id);
    expect(b).toMatchObject({ state: 'OPEN', consecutiveFailures: 2, failureThreshold: 2 });
    expect(Date.parse(b.nextHalfOpenAt) - Date.now()).toBeGreaterThan(25_000);
    const refused = await scan();
    expect(refused.status).toBe(503);
    expect(refused.body.error).toMatchObject({ type: 'circuit_breaker_open' });
    expect(refused.body.error.retryAfterSec).toBeGreaterThanOrEqual(25);
    expect(refused.headers.get('retry-after')).toBe(String(refused.body.error.retryAfterSec));

    await elapseRecovery(minted.id);
    expect((await breakerOf(minted.id)).state).toBe('HALF_OPEN');
    const probe = (await scan()).body.scan.id;
    await runner.next((m) => isDispatch(m) && m.jobId === probe);
    expect((await scan()).body.error.type).toBe('circuit_breaker_open'); // only one probe
    runner.finish(probe, ['ok\n']);
    await runner.next((m) => m.type === 'ack' && m.jobId === probe && m.seq === 2);
    b = await breakerOf(minted.id);
    expect(b.state).toBe('CLOSED');
    expect(b.transitions.map((t: { to: string }) => t.to)).toEqual(['OPEN', 'HALF_OPEN', 'CLOSED']);
    expect(b.errors).toHaveLength(2);
  });

  it('a failed probe reopens it with the timeout ×1.5', async () => {
    const { runner, scan, minted } = await setup();
    await api(`/v1/breakers/${minted.id}/open`, { method: 'POST', token: ADMIN });
    await elapseRecovery(minted.id);
    const probe = (await scan()).body.scan.id;
    await runner.next((m) => isDispatch(m) && m.jobId === probe);
    await failJob(runner, probe);
    const b = await breakerOf(minted.id);
    expect(b).toMatchObject({ state: 'OPEN', recoveryTimeoutSec: 180 });
  });

  it('a scan token cannot open the shared breaker: its own timeouts, nmap refusing its arguments and down hosts are neutral', async () => {
    const { runner, scan, minted, net } = await setup();
    // The attack: more scans than the threshold (5), each timing out by the caller's own short timeoutSec, then
    // scans nmap refuses (exit 1 on its own). Each ends the way the real runner reports it.
    for (let i = 0; i < 6; i++) {
      const id = (await scan({ timeoutSec: 1, args: '-sT -p 1-65535' })).body.scan.id;
      await runner.next((m) => isDispatch(m) && m.jobId === id);
      runner.finish(id, ['partial\n'], { exitCode: null, signal: 'SIGTERM', timedOut: true });
      await runner.next((m) => m.type === 'ack' && m.jobId === id && m.seq === 1);
      expect((await json(await api(`/v1/scans/${id}`, { token: ADMIN }))).scan.error.type).toBe('timeout');
    }
    for (let i = 0; i < 2; i++) {
      const id = (await scan()).body.scan.id;
      await runner.next((m) => isDispatch(m) && m.jobId === id);
      runner.finish(id, ['QUITTING!\n'], { exitCode: 1 });
      await runner.next((m) => m.type === 'ack' && m.jobId === id && m.seq === 1);
    }
    expect(await breakerOf(minted.id)).toMatchObject({ state: 'CLOSED', consecutiveFailures: 0 });
    // Another token's scan still goes out to the same runner.
    const other = await mintToken('scan');
    const res = await api('/v1/scans', {
      method: 'POST',
      token: other,
      json: { target: `127.${net}.0.1`, args: '-sT -p 22' },
    });
    expect(res.status).toBe(202);
    const id = (await json(res)).scan.id;
    await runner.next((m) => isDispatch(m) && m.jobId === id);
  });

  it('a crash, a runner error and a lost runner do count', async () => {
    const { runner, scan, minted } = await setup();
    const crash = (await scan()).body.scan.id;
    await runner.next((m) => isDispatch(m) && m.jobId === crash);
    await failJob(runner, crash);
    const spawn = (await scan()).body.scan.id;
    await runner.next((m) => isDispatch(m) && m.jobId === spawn);
    runner.finish(spawn, [], {
      exitCode: null,
      error: { type: 'execution_error', message: 'nmap could not be started', recoverySuggestion: 'Install nmap.' },
    });
    await runner.next((m) => m.type === 'ack' && m.jobId === spawn);
    expect(await breakerOf(minted.id)).toMatchObject({ state: 'CLOSED', consecutiveFailures: 2 });
  });

  it('cancelled scans and rejected requests do not count as failures', async () => {
    const { runner, scan, minted } = await setup();
    const id = (await scan()).body.scan.id;
    await runner.next((m) => isDispatch(m) && m.jobId === id);
    runner.finish(id, [], { cancelled: true, exitCode: null, signal: 'SIGTERM' });
    await runner.next((m) => m.type === 'ack' && m.jobId === id && m.seq === 1);
    await scan({ target: '8.8.8.8' });
    expect((await breakerOf(minted.id)).consecutiveFailures).toBe(0);
  });

  it('has admin reset, force open and force close, each audited', async () => {
    const { minted, scan, net } = await setup();
    expect(
      (await json(await api(`/v1/breakers/scans-runner-${net}/open`, { method: 'POST', token: ADMIN }))).state,
    ).toBe('OPEN');
    expect((await scan()).body.error.type).toBe('circuit_breaker_open');
    expect((await json(await api(`/v1/breakers/${minted.id}/close`, { method: 'POST', token: ADMIN }))).state).toBe(
      'CLOSED',
    );
    expect((await json(await api(`/v1/breakers/${minted.id}/reset`, { method: 'POST', token: ADMIN }))).state).toBe(
      'CLOSED',
    );
    expect((await api('/v1/breakers/nope/reset', { method: 'POST', token: ADMIN })).status).toBe(404);
    const audit = (await json(await api('/v1/audit?limit=50', { token: ADMIN }))).entries.map(
      (e: { action: string }) => e.action,
    );
    expect(audit).toEqual(expect.arrayContaining(['breaker.open', 'breaker.close', 'breaker.reset']));
  });
});

describe('queue, rate limit, idempotency, wait', () => {
  it('queues scans while the runner is at capacity and dispatches them as it frees up', async () => {
    const { runner, scan, token } = await setup({ maxConcurrency: 1 });
    const first = (await scan()).body.scan.id;
    const second = await scan();
    expect(second.status).toBe(202);
    expect(second.body.scan.status).toBe('queued');
    await runner.next((m) => isDispatch(m) && m.jobId === first);
    expect(dispatches(runner).map((d) => d.jobId)).toEqual([first]);
    runner.finish(first, ['done\n']);
    await runner.next((m) => isDispatch(m) && m.jobId === second.body.scan.id);
    expect((await json(await api(`/v1/scans/${second.body.scan.id}`, { token }))).scan.status).toBe('dispatched');
  });

  it('fails a queued scan that waited past the queue time', async () => {
    const { runner, scan, token } = await setup({ maxConcurrency: 1 });
    const first = (await scan()).body.scan.id;
    await runner.next((m) => isDispatch(m) && m.jobId === first);
    const waiting = (await scan()).body.scan.id;
    await new Promise((r) => setTimeout(r, 2200)); // QUEUE_WAIT_SEC is 2 in tests
    await runDurableObjectAlarm(getCoordinator(env));
    expect((await json(await api(`/v1/scans/${waiting}`, { token }))).scan).toMatchObject({
      status: 'failed',
      error: { type: 'no_runner' },
    });
  });

  it('limits scans per token per minute with 429 and Retry-After', async () => {
    const { scan } = await setup();
    await api('/v1/policy', { method: 'PUT', token: ADMIN, json: { rateLimitPerMinute: 2 } });
    onTestFinished(async () => {
      await api('/v1/policy', { method: 'PUT', token: ADMIN, json: { rateLimitPerMinute: 60 } });
    });
    expect((await scan()).status).toBe(202);
    expect((await scan()).status).toBe(202);
    const limited = await scan();
    expect(limited.status).toBe(429);
    expect(limited.body.error.type).toBe('rate_limited');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
  });

  it('returns the same scan for the same Idempotency-Key, and 409 for a different request under it', async () => {
    const { scan, runner } = await setup();
    const a = await scan({}, { 'idempotency-key': 'key-1' });
    const b = await scan({}, { 'idempotency-key': 'key-1' });
    expect(a.status).toBe(202);
    expect(b.status).toBe(200);
    expect(b.body.scan.id).toBe(a.body.scan.id);
    await new Promise((r) => setTimeout(r, 100));
    expect(dispatches(runner)).toHaveLength(1);
    const c = await scan({ args: '-sT -p 80' }, { 'idempotency-key': 'key-1' });
    expect(c.status).toBe(409);
  });

  it('waits for the result when asked', async () => {
    const { scan, runner } = await setup();
    const pending = scan({ wait: 10 });
    const dispatch = await runner.next(isDispatch);
    runner.finish(dispatch.jobId, ['22/tcp open ssh\n']);
    const done = await pending;
    expect(done.status).toBe(202);
    expect(done.body.scan).toMatchObject({ id: dispatch.jobId, status: 'succeeded', exitCode: 0 });
  });

  it('lists scans with filters and a cursor, scan tokens seeing only their own', async () => {
    const { scan, token, runner } = await setup({ maxConcurrency: 8 });
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await scan()).body.scan.id);
    const page1 = await json(await api('/v1/scans?limit=2', { token }));
    expect(page1.scans.map((s: { id: string }) => s.id)).toEqual([ids[2], ids[1]]);
    const page2 = await json(await api(`/v1/scans?limit=2&cursor=${page1.nextCursor}`, { token }));
    expect(page2.scans.map((s: { id: string }) => s.id)).toEqual([ids[0]]);
    expect(page2.nextCursor).toBeNull();
    const other = await mintToken('scan');
    expect((await json(await api('/v1/scans', { token: other }))).scans).toEqual([]);
    expect((await api(`/v1/scans/${ids[0]}`, { token: other })).status).toBe(404);
    expect((await json(await api('/v1/scans?status=succeeded', { token }))).scans).toEqual([]);
    void runner;
  });
});

describe('SSE events', () => {
  async function read(res: Response, until: (text: string) => boolean): Promise<string> {
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    const deadline = Date.now() + 5000;
    while (!until(text) && Date.now() < deadline) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    await reader.cancel().catch(() => {});
    return text;
  }

  it('streams queued, dispatched, output, progress and finished, live, and resumes after Last-Event-ID', async () => {
    const { scan, token, runner } = await setup();
    const id = (await scan()).body.scan.id;
    const res = await api(`/v1/scans/${id}/events`, { token });
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    await runner.next((m) => isDispatch(m) && m.jobId === id);
    runner.send({ type: 'job.progress', jobId: id, percent: 50 });
    runner.finish(id, ['line 1\n', 'line 2\n']);
    const text = await read(res, (t) => t.includes('event: finished'));
    const events = [...text.matchAll(/id: (\d+)\nevent: (\w+)\ndata: (.*)\n/g)].map((m) => ({
      id: Number(m[1]),
      type: m[2],
      data: JSON.parse(m[3]!),
    }));
    expect(events.map((e) => e.type)).toEqual(['queued', 'dispatched', 'progress', 'output', 'output', 'finished']);
    expect(events.map((e) => e.id)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(events[3]!.data).toMatchObject({ seq: 1, data: 'line 1\n' });
    expect(events[5]!.data).toMatchObject({ status: 'succeeded' });

    const resumed = await api(`/v1/scans/${id}/events`, { token, headers: { 'last-event-id': '4' } });
    const rest = await read(resumed, (t) => t.includes('event: finished'));
    expect([...rest.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]))).toEqual([5, 6]);
  });
});
