import { env, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { DIFF_XML, reportOf } from '../domain/diff/fixtures.ts';
import { type Coordinator, getCoordinator } from '../objects/coordinator.do.ts';
import { ADMIN, api, json, mintRunner, mintToken, runnersOnOwnNets, type TestRunner } from './helpers/runner-client.ts';

/**
 * Alert rules over the API (issue 18): validation that names the fix, secrets shown once, pool scoping (attack),
 * audit, and the delivery log of a receiver that is not there (a real refused connection on loopback: nothing
 * listens on port 9 here). Real deliveries to a receiver, retries and signatures: test/e2e/alerts.e2e.test.ts.
 */
const HOOK = 'http://127.0.0.1:9/hook';

async function create(body: Record<string, unknown>, token = ADMIN, pool?: string) {
  const res = await api(`/v1/alerts${pool ? `?pool=${pool}` : ''}`, { method: 'POST', token, json: body });
  return { status: res.status, body: await json(res) };
}

async function mintAdmin(pool: string, name: string): Promise<string> {
  const res = await api('/v1/tokens', { method: 'POST', token: ADMIN, json: { name, role: 'admin', pool } });
  return (await json(res)).token;
}

describe('alert rules: validation', () => {
  it('refuses bad destinations and rules, each with the fix, and stores nothing', async () => {
    const cases: Array<[Record<string, unknown>, RegExp, RegExp]> = [
      [{ url: 'http://hooks.example.org/a' }, /https only/, /https:\/\//],
      [{ url: 'https://hooks.example.org:8443/a' }, /Port 8443/, /443/],
      [{ url: 'https://me:pw@hooks.example.org/a' }, /user name or password/, /signature/i],
      [{ url: 'https://scangate.test/v1/scans' }, /scangate Worker itself/, /outside scangate/],
      [{ url: 'https://169.254.169.254/latest' }, /not a public one/, /public https/],
      [{ events: [] }, /name at least one event/, /Fix that field/],
      [{ events: ['port_open'] }, /events\.0/, /Fix that field/],
      [{ filters: { cidr: ['10.0.0.1/8'] } }, /host bits are set/, /Fix that field/],
      [{ certExpiringDays: 0 }, /certExpiringDays/, /Fix that field/],
    ];
    for (const [override, message, fix] of cases) {
      const res = await create({
        name: 'bad',
        url: 'https://hooks.example.org/a',
        events: ['port_opened'],
        ...override,
      });
      expect(res.status, JSON.stringify(override)).toBe(400);
      expect(res.body.error.type).toBe('validation_error');
      expect(res.body.error.message).toMatch(message);
      expect(res.body.error.recoverySuggestion).toMatch(fix);
    }
    expect((await json(await api('/v1/alerts', { token: ADMIN }))).alerts).toEqual([]);
    const scanToken = (
      await json(await api('/v1/tokens', { method: 'POST', token: ADMIN, json: { name: 's', role: 'scan' } }))
    ).token;
    expect((await api('/v1/alerts', { token: scanToken })).status).toBe(403);
  });
});

describe('alert rules: secrets', () => {
  it('the secret is in the creation answer only; reads show its prefix; a rotation shows the new one once', async () => {
    const made = await create({ name: 'lab watch', url: HOOK, events: ['port_opened', 'scan.finished'] });
    expect(made.status).toBe(201);
    const { alert, secret } = made.body;
    expect(secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    expect(alert).toMatchObject({ name: 'lab watch', url: HOOK, format: 'json', secretPrefix: secret.slice(0, 12) });
    expect(alert.secret).toBeUndefined();

    const reads = [
      await api('/v1/alerts', { token: ADMIN }),
      await api(`/v1/alerts/${alert.id}`, { token: ADMIN }),
      await api(`/v1/alerts/${alert.id}`, { method: 'PATCH', token: ADMIN, json: { enabled: false } }),
      await api(`/v1/alerts/${alert.id}/deliveries`, { token: ADMIN }),
      await api('/v1/audit?limit=500', { token: ADMIN }),
    ];
    for (const res of reads) {
      expect(res.status).toBe(200);
      expect(await res.text()).not.toContain(secret.slice(12));
    }
    const rotated = await json(
      await api(`/v1/alerts/${alert.id}`, { method: 'PATCH', token: ADMIN, json: { rotateSecret: true } }),
    );
    expect(rotated.secret).toMatch(/^whsec_/);
    expect(rotated.secret).not.toBe(secret);
    expect(rotated.alert.secretPrefix).toBe(rotated.secret.slice(0, 12));
    expect(rotated.alert.enabled).toBe(false);
    // The rest of the rule is as it was: a patch changes what it names.
    expect(rotated.alert.events).toEqual(['port_opened', 'scan.finished']);
    expect((await api(`/v1/alerts/${alert.id}`, { method: 'DELETE', token: ADMIN })).status).toBe(200);
  });
});

describe('alert rules: pools (attack)', () => {
  it('a pool admin cannot list, read, change, test or delete another pool’s rules; they keep working', async () => {
    const mine = await create({ name: 'default rule', url: HOOK, events: ['port_opened'] });
    const id = mine.body.alert.id;
    const otherAdmin = await mintAdmin('other', 'other-alerts-admin');

    for (const path of ['/v1/alerts?pool=default', `/v1/alerts/${id}?pool=default`]) {
      const res = await api(path, { token: otherAdmin });
      expect(res.status, path).toBe(403);
      expect((await json(res)).error.type).toBe('forbidden');
    }
    const sneaky = await create({ name: 'sneaky', url: HOOK, events: ['port_opened'] }, otherAdmin, 'default');
    expect(sneaky.status).toBe(403);
    // In its own pool, the other pool's id names nothing.
    const attempts: Array<[string, RequestInit & { json?: unknown }]> = [
      [`/v1/alerts/${id}`, {}],
      [`/v1/alerts/${id}`, { method: 'PATCH', json: { url: 'http://127.0.0.1:9/stolen', enabled: true } }],
      [`/v1/alerts/${id}`, { method: 'PATCH', json: { rotateSecret: true } }],
      [`/v1/alerts/${id}/deliveries`, {}],
      [`/v1/alerts/${id}/test`, { method: 'POST' }],
      [`/v1/alerts/${id}`, { method: 'DELETE' }],
    ];
    for (const [path, init] of attempts) {
      const res = await api(path, { ...init, token: otherAdmin });
      expect(res.status, `${init.method ?? 'GET'} ${path}`).toBe(404);
      expect((await json(res)).error.type).toBe('not_found');
    }
    expect((await json(await api('/v1/alerts', { token: otherAdmin }))).alerts).toEqual([]);
    // Unchanged, same secret prefix, still listed in its own pool.
    const after = (await json(await api(`/v1/alerts/${id}`, { token: ADMIN }))).alert;
    expect(after).toEqual(mine.body.alert);
    expect((await api(`/v1/alerts/${id}`, { method: 'DELETE', token: ADMIN })).status).toBe(200);
  });
});

describe('alert deliveries', () => {
  it('a test to a receiver that is not there is logged as failed with the reason, and audited', async () => {
    const made = await create({ name: 'nobody home', url: HOOK, events: ['scan.failed'] });
    const id = made.body.alert.id;
    const tested = await api(`/v1/alerts/${id}/test`, { method: 'POST', token: ADMIN });
    expect(tested.status).toBe(200);
    const { delivery } = await json(tested);
    // A test is one attempt: it fails at once rather than retrying for a day.
    expect(delivery).toMatchObject({
      ruleId: id,
      eventType: 'test',
      status: 'failed',
      attempts: 1,
      responseCode: null,
    });
    expect(delivery.lastError).toBeTruthy();
    const log = (await json(await api(`/v1/alerts/${id}/deliveries?status=failed`, { token: ADMIN }))).deliveries;
    expect(log.map((d: any) => d.id)).toEqual([delivery.id]);

    await api(`/v1/alerts/${id}`, { method: 'PATCH', token: ADMIN, json: { name: 'nobody home 2' } });
    await api(`/v1/alerts/${id}`, { method: 'DELETE', token: ADMIN });
    const entries = (await json(await api('/v1/audit?action=alert.*&limit=100', { token: ADMIN }))).entries as any[];
    const mine = entries.filter((e) => e.detail.alertId === id).map((e) => `${e.action}:${e.decision}`);
    expect(mine).toEqual(
      expect.arrayContaining([
        'alert.create:accepted',
        'alert.test:accepted',
        'alert.delivery:failed',
        'alert.update:accepted',
        'alert.delete:accepted',
      ]),
    );
    expect((await api(`/v1/alerts/${id}/deliveries`, { token: ADMIN })).status).toBe(404);
  });
});

describe('alerts on the dashboard', () => {
  it('shows the rules (secret prefix only), recent deliveries and the ones given up', async () => {
    const made = await create({ name: 'dash rule', url: HOOK, events: ['breaker.opened'], filters: { ports: [22] } });
    const { id } = made.body.alert;
    const secret: string = made.body.secret;
    await api(`/v1/alerts/${id}/test`, { method: 'POST', token: ADMIN });

    const login = await api('/dashboard/login', {
      method: 'POST',
      body: new URLSearchParams({ token: ADMIN }),
      redirect: 'manual',
    });
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    const html = await (await api('/dashboard', { headers: { cookie } })).text();
    const section = html.slice(html.indexOf('id="h-alerts"'));
    expect(section).toContain(`data-alert="${id}"`);
    expect(section).toContain('dash rule');
    expect(section).toContain('ports 22');
    expect(section).toContain('http://127.0.0.1:9/…');
    expect(section).toContain(secret.slice(0, 12));
    expect(html).not.toContain(secret.slice(12));
    expect(section).toMatch(/data-status="failed"[\s\S]*given up/);
    await api(`/v1/alerts/${id}`, { method: 'DELETE', token: ADMIN });
  });
});

describe('breaker and runner events', () => {
  async function deliveries(id: string): Promise<any[]> {
    return (await json(await api(`/v1/alerts/${id}/deliveries`, { token: ADMIN }))).deliveries;
  }

  /** Runs the pool's alarm, which the event armed (false if none was set), then reads what it attempted. */
  async function attempted(id: string, type: string): Promise<any> {
    expect(await runDurableObjectAlarm(getCoordinator(env))).toBe(true);
    const found = (await deliveries(id)).find((d) => d.eventType === type);
    expect(found, JSON.stringify(await deliveries(id))).toMatchObject({ attempts: 1 });
    return found;
  }

  it('a breaker opened and closed by an admin queues both events; a failing receiver is retried, not dropped', async () => {
    const runner = await mintRunner('alert-breaker-runner');
    const made = await create({ name: 'breakers', url: HOOK, events: ['breaker.opened', 'breaker.closed'] });
    const id = made.body.alert.id;
    expect((await api(`/v1/breakers/${runner.id}/open`, { method: 'POST', token: ADMIN })).status).toBe(200);
    const opened = await attempted(id, 'breaker.opened');
    expect(opened.title).toBe('Circuit breaker of runner alert-breaker-runner opened: scans are refused');
    // Nobody listens on port 9: the attempt failed and the delivery waits for its next try, armed on the alarm.
    expect(opened).toMatchObject({ status: 'pending', responseCode: null });
    expect(Date.parse(opened.nextAttemptAt)).toBeGreaterThan(Date.parse(opened.lastAttemptAt));
    expect((await api(`/v1/breakers/${runner.id}/close`, { method: 'POST', token: ADMIN })).status).toBe(200);
    await attempted(id, 'breaker.closed');
    await api(`/v1/alerts/${id}`, { method: 'DELETE', token: ADMIN });
  });

  it('a runner away longer than the rule’s minutes is reported once per absence', async () => {
    const runner = await mintRunner('alert-offline-runner');
    const made = await create({ name: 'offline', url: HOOK, events: ['runner.offline'], runnerOfflineMinutes: 10 });
    const id = made.body.alert.id;
    const stub = getCoordinator(env);
    const since = Date.now() - 11 * 60_000;
    // Aged in storage: the runner was last seen 11 minutes ago and is not connected.
    await runInDurableObject(stub, async (c: Coordinator, state) => {
      state.storage.sql.exec('UPDATE runners SET connected = 0, last_seen = ? WHERE id = ?', since, runner.id);
      c.dropCaches();
      await c.alarm();
      await c.alarm();
    });
    const offline = (await deliveries(id)).filter((d) => d.eventType === 'runner.offline');
    expect(offline).toHaveLength(1);
    expect(offline[0].title).toMatch(/^Runner alert-offline-runner has been offline for 11 minutes$/);
    await api(`/v1/alerts/${id}`, { method: 'DELETE', token: ADMIN });
  });
});

describe('a scan that changes a lot', () => {
  const newRunner = runnersOnOwnNets('alerts-runner', 180);

  /** A real nmap report (test/fixtures/nmap/diff) of `target`, with ports 2000-2079 probed and all in `state`. */
  function report(target: string, state: 'open' | 'closed') {
    const base = reportOf(DIFF_XML.up.replaceAll('127.0.0.1', target));
    const ports = Array.from({ length: 80 }, (_, i) => ({
      protocol: 'tcp' as const,
      port: 2000 + i,
      state,
      reason: null,
      service: null,
      cpe: [],
      scripts: [],
    }));
    return {
      ...base,
      probes: [{ type: 'connect', protocol: 'tcp' as const, ports: '2000-2079' }],
      hosts: [{ ...base.hosts[0]!, ports, extraPorts: [] }],
    };
  }

  async function finished(runner: TestRunner, token: string, target: string, state: 'open' | 'closed') {
    const from = runner.received.length;
    const res = await api('/v1/scans', { method: 'POST', token, json: { target, args: '-sT -p 2000-2079' } });
    expect(res.status).toBe(202);
    const dispatch = await runner.next((m) => m.type === 'job.dispatch', 5000, from);
    const jobId = (dispatch as { jobId: string }).jobId;
    runner.send({ type: 'job.accepted', jobId });
    runner.finish(jobId, ['done\n'], { report: report(target, state) });
    for (;;) {
      const scan = (await json(await api(`/v1/scans/${jobId}?wait=1`, { token }))).scan;
      if (scan.status === 'succeeded') return jobId;
      expect(scan.status).not.toBe('failed');
    }
  }

  it('queues at most 50 deliveries per rule from one scan and audits how many were left out', async () => {
    const { net, runner } = await newRunner();
    const target = `127.${net}.0.1`;
    const made = await create({ name: 'flood', url: HOOK, events: ['port_opened'] });
    const id = made.body.alert.id;
    const token = await mintToken('scan', `alerts-flood-${net}`);
    await finished(runner, token, target, 'closed');
    const second = await finished(runner, token, target, 'open');
    const list = (await json(await api(`/v1/alerts/${id}/deliveries?limit=200`, { token: ADMIN }))).deliveries;
    expect(list.filter((d: any) => d.eventType === 'port_opened')).toHaveLength(50);
    const audit = (await json(await api('/v1/audit?action=alert.queue&limit=10', { token: ADMIN }))).entries;
    expect(audit[0]).toMatchObject({
      decision: 'truncated',
      detail: { alertId: id, scanId: second, queued: 50, leftOut: 30 },
    });
    await api(`/v1/alerts/${id}`, { method: 'DELETE', token: ADMIN });
  });
});
