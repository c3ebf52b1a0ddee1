import { env, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it, onTestFinished } from 'vitest';
import { type Coordinator, getCoordinator } from '../objects/coordinator.do.ts';
import {
  ADMIN,
  api,
  dashboardLogin,
  json,
  mintToken,
  runnersOnOwnNets,
  type TestRunner,
} from './helpers/runner-client.ts';

/**
 * Schedules through the API and the pool's alarm, against a test runner over a real WebSocket: validated by the
 * policy when made and at each run (a policy change pauses one with its reason), missed runs collapse into one, no
 * two runs overlap, every run is a normal scan tagged with its schedule. Attacked: a scan token and another pool's
 * admin can neither see nor change them.
 */
const newRunner = runnersOnOwnNets('schedules-runner', 150);
let seq = 0;

async function createSchedule(net: number, over: Record<string, unknown> = {}) {
  const name = `nightly-${net}-${seq++}`;
  const res = await api('/v1/schedules', {
    method: 'POST',
    token: ADMIN,
    json: { name, scan: { target: `127.${net}.0.1`, args: '-sT -p 22' }, intervalSec: 3600, ...over },
  });
  return { res, body: await json(res), name };
}

const schedule = async (id: string) => (await json(await api(`/v1/schedules/${id}`, { token: ADMIN }))).schedule;

/** Moves a schedule's next run into the past (standing in for the pool being down), then runs the alarm. */
async function dueSince(id: string, msAgo: number) {
  await runInDurableObject(getCoordinator(env), (_c: Coordinator, state) => {
    state.storage.sql.exec('UPDATE schedules SET next_run_at = ? WHERE id = ?', Date.now() - msAgo, id);
  });
  await runDurableObjectAlarm(getCoordinator(env));
}

const scansOf = async (id: string) =>
  (await json(await api('/v1/scans?limit=100', { token: ADMIN }))).scans.filter(
    (s: { scheduleId: string | null }) => s.scheduleId === id,
  );

async function finishRun(runner: TestRunner, jobId: string) {
  runner.send({ type: 'job.accepted', jobId });
  runner.finish(jobId, ['done\n']);
  for (;;) {
    const scan = (await json(await api(`/v1/scans/${jobId}?wait=1`, { token: ADMIN }))).scan;
    if (scan.status === 'succeeded') return;
  }
}

describe('schedules', () => {
  it('are made with the policy checked, and refuse what it or the timing rules would refuse, storing nothing', async () => {
    const { net } = await newRunner();
    const made = await createSchedule(net, {
      timeZone: 'Europe/Berlin',
      blackouts: [{ start: '22:00', end: '06:00' }],
    });
    expect(made.res.status).toBe(201);
    expect(made.body.schedule).toMatchObject({
      name: made.name,
      state: 'active',
      intervalSec: 3600,
      timeZone: 'Europe/Berlin',
    });
    expect(Date.parse(made.body.schedule.nextRunAt)).toBeGreaterThan(Date.now());
    const before = (await json(await api('/v1/schedules', { token: ADMIN }))).schedules.length;

    const refusals: Array<[Record<string, unknown>, number, string]> = [
      [{ scan: { target: '192.0.2.10' } }, 400, 'allowed'], // outside the policy's networks (data, never scanned)
      [{ scan: { target: `127.${net}.0.1`, args: '-oN /tmp/x' } }, 400, '-oN'],
      [{ cron: '0 0 3 * * *', intervalSec: undefined }, 400, '5 fields'],
      [{ intervalSec: 60 }, 400, 'intervalSec'],
      [{ cron: '*/2 * * * *', intervalSec: undefined }, 400, 'more often than every 5 minutes'],
      [{ timeZone: 'Mars/Olympus' }, 400, 'time zone'],
      [{ blackouts: [{ start: '25:00', end: '06:00' }] }, 400, 'HH:MM'],
      [{ surprise: true }, 400, 'surprise'],
    ];
    for (const [over, status, says] of refusals) {
      const { res, body } = await createSchedule(net, over);
      expect(res.status, JSON.stringify(over)).toBe(status);
      expect(JSON.stringify(body.error), JSON.stringify(over)).toContain(says);
      expect(body.error.recoverySuggestion.length).toBeGreaterThan(0);
    }
    const duplicate = await api('/v1/schedules', {
      method: 'POST',
      token: ADMIN,
      json: { name: made.name, scan: { target: `127.${net}.0.1` }, intervalSec: 3600 },
    });
    expect(duplicate.status).toBe(409);
    expect((await json(await api('/v1/schedules', { token: ADMIN }))).schedules.length).toBe(before);
  });

  it('run now: a normal scan tagged with its schedule; a second run while the first is active is refused', async () => {
    const { net, runner } = await newRunner();
    const { body } = await createSchedule(net);
    const id = body.schedule.id;
    const from = runner.received.length;
    const run = await api(`/v1/schedules/${id}/run`, { method: 'POST', token: ADMIN });
    expect(run.status).toBe(202);
    const { scan } = await json(run);
    expect(scan.scheduleId).toBe(id);
    expect(scan.requestedBy.name).toBe(`schedule ${body.schedule.name}`);
    const dispatch = await runner.next((m) => m.type === 'job.dispatch', 5000, from);
    expect((dispatch as { jobId: string }).jobId).toBe(scan.id);

    const again = await api(`/v1/schedules/${id}/run`, { method: 'POST', token: ADMIN });
    expect(again.status).toBe(409);
    expect((await json(again)).error.message).toContain('still running');
    await finishRun(runner, scan.id);
    expect((await api(`/v1/schedules/${id}/run`, { method: 'POST', token: ADMIN })).status).toBe(202);
    expect((await schedule(id)).lastOutcome).toBe('started (run now)');
  });

  it('runs a schedule missed for days once from the alarm, then waits for its next time (no pile-up)', async () => {
    const { net, runner } = await newRunner();
    const { body } = await createSchedule(net);
    const id = body.schedule.id;
    await dueSince(id, 3 * 86_400_000);
    const runs = await scansOf(id);
    expect(runs).toHaveLength(1);
    const after = await schedule(id);
    expect(after.lastOutcome).toBe('started (catch-up after a missed run)');
    expect(Date.parse(after.nextRunAt)).toBeGreaterThan(Date.now());
    await runDurableObjectAlarm(getCoordinator(env));
    expect(await scansOf(id)).toHaveLength(1);

    // Due again while that run is still active: skipped, never a second run on top of it.
    await dueSince(id, 1000);
    expect(await scansOf(id)).toHaveLength(1);
    expect((await schedule(id)).lastOutcome).toBe('skipped: the previous run is still running');
    await finishRun(runner, runs[0].id);
    await dueSince(id, 1000);
    expect(await scansOf(id)).toHaveLength(2);
  });

  it('pauses with the reason when a policy change refuses its request, and resumes once allowed again', async () => {
    const { net } = await newRunner();
    const { body } = await createSchedule(net, {
      scan: { target: `127.${net}.0.1`, args: '-sT -p 22 --script ssh-brute' },
    });
    // Intrusive scripts need allowIntrusive: allow it for the creation, then take it away.
    expect(body.error?.message ?? '').toContain('ssh-brute');
    const setIntrusive = (allow: boolean) =>
      api('/v1/policy', { method: 'PUT', token: ADMIN, json: { allowIntrusive: allow } });
    expect((await setIntrusive(true)).status).toBe(200);
    onTestFinished(async () => void (await setIntrusive(false)));
    const made = await createSchedule(net, {
      scan: { target: `127.${net}.0.1`, args: '-sT -p 22 --script ssh-brute' },
    });
    expect(made.res.status).toBe(201);
    const id = made.body.schedule.id;
    expect((await setIntrusive(false)).status).toBe(200);

    await dueSince(id, 1000);
    const paused = await schedule(id);
    expect(paused).toMatchObject({ state: 'paused', nextRunAt: null, lastOutcome: 'refused: validation_error' });
    expect(paused.pausedReason).toContain('ssh-brute');
    expect(await scansOf(id)).toHaveLength(0);
    const audit = await json(await api('/v1/audit?action=schedule.pause', { token: ADMIN }));
    expect(audit.entries.some((e: { detail: { scheduleId: string } }) => e.detail.scheduleId === id)).toBe(true);
    // Paused schedules are not run by the alarm.
    await dueSince(id, 1000);
    expect(await scansOf(id)).toHaveLength(0);

    // Resuming while the policy still refuses it is refused and changes nothing.
    const early = await api(`/v1/schedules/${id}`, { method: 'PATCH', token: ADMIN, json: { enabled: true } });
    expect(early.status).toBe(400);
    expect((await schedule(id)).state).toBe('paused');
    expect((await setIntrusive(true)).status).toBe(200);
    const resumed = await api(`/v1/schedules/${id}`, { method: 'PATCH', token: ADMIN, json: { enabled: true } });
    expect(resumed.status).toBe(200);
    expect((await json(resumed)).schedule).toMatchObject({ state: 'active', pausedReason: null });
  });

  it('a scan token and another pool’s admin can neither see nor change them; the pool’s own admin is unaffected', async () => {
    const { net } = await newRunner();
    const { body } = await createSchedule(net);
    const id = body.schedule.id;
    const scanToken = await mintToken('scan', `schedules-scan-${net}`);
    const other = await json(
      await api('/v1/tokens', {
        method: 'POST',
        token: ADMIN,
        json: { name: `other-admin-${net}`, role: 'admin', pool: 'other' },
      }),
    );
    for (const [method, path, payload] of [
      ['GET', '/v1/schedules', undefined],
      ['GET', `/v1/schedules/${id}`, undefined],
      ['PATCH', `/v1/schedules/${id}`, { enabled: false }],
      ['DELETE', `/v1/schedules/${id}`, undefined],
      ['POST', `/v1/schedules/${id}/run`, undefined],
    ] as const) {
      expect((await api(path, { method, token: scanToken, json: payload })).status, `${method} ${path}`).toBe(403);
      expect(
        (
          await api(`${path}${path.includes('?') ? '&' : '?'}pool=default`, {
            method,
            token: other.token,
            json: payload,
          })
        ).status,
      ).toBe(403);
      // In its own pool, that schedule does not exist.
      if (path !== '/v1/schedules')
        expect((await api(path, { method, token: other.token, json: payload })).status).toBe(404);
    }
    expect((await json(await api('/v1/schedules', { token: other.token }))).schedules).toEqual([]);
    expect(await schedule(id)).toMatchObject({ state: 'active' });
    expect(await scansOf(id)).toHaveLength(0);
  });

  it('deletes a schedule: it runs no more', async () => {
    const { net } = await newRunner();
    const { body } = await createSchedule(net);
    const id = body.schedule.id;
    expect((await api(`/v1/schedules/${id}`, { method: 'DELETE', token: ADMIN })).status).toBe(200);
    expect((await api(`/v1/schedules/${id}`, { token: ADMIN })).status).toBe(404);
    await runDurableObjectAlarm(getCoordinator(env));
    expect(await scansOf(id)).toHaveLength(0);
  });
});

describe('schedules on the dashboard', () => {
  it('lists them with their next run, and pauses, resumes and runs them with a CSRF-checked form', async () => {
    const { net, runner } = await newRunner();
    const { body } = await createSchedule(net, {
      cron: '0 3 * * *',
      intervalSec: undefined,
      timeZone: 'Europe/Berlin',
    });
    const { id, name } = body.schedule;
    const { cookie, csrf } = await dashboardLogin(ADMIN);
    const page = await (await api('/dashboard/schedules', { headers: { cookie } })).text();
    expect(page).toMatch(new RegExp(`data-schedule="${name}"[^]*?0 3 \\* \\* \\* \\(Europe/Berlin\\)[^]*?02:00 UTC`));
    const act = (action: string, token = csrf) =>
      api('/dashboard/actions', {
        method: 'POST',
        headers: { cookie },
        body: new URLSearchParams({ action, target: id, csrf: token }),
        redirect: 'manual',
      });
    expect((await act('schedule-pause', 'wrong')).status).toBe(403);
    expect((await schedule(id)).state).toBe('active');
    const paused = await act('schedule-pause');
    expect(paused.status).toBe(303);
    expect(paused.headers.get('location')).toContain('/dashboard/schedules?notice=');
    expect((await schedule(id)).state).toBe('disabled');
    await act('schedule-resume');
    expect((await schedule(id)).state).toBe('active');
    const from = runner.received.length;
    const run = await act('schedule-run');
    expect(decodeURIComponent(run.headers.get('location')!)).toMatch(/Started scan scan_/);
    await runner.next((m) => m.type === 'job.dispatch', 5000, from);
    const after = await (await api('/dashboard/schedules', { headers: { cookie } })).text();
    expect(after).toContain('started (run now)');
  });
});
