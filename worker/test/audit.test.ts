import { env, evictDurableObject, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { getCoordinator } from '../objects/coordinator.do.ts';
import { applyMigrations } from '../storage/migrations.ts';
import { aggregationKey, kindOf } from '../storage/audit.store.ts';
import { COORDINATOR_MIGRATIONS } from '../storage/schema.ts';
import { ADMIN, api, json } from './helpers/runner-client.ts';

/**
 * A scan token must not be able to erase the audit log. Security events and scan decisions are kept in two tables
 * with their own retention (vitest.config.ts sets the scan table's to AUDIT_SCAN_MAX_ROWS = 50), refusals are
 * aggregated per token, reason and minute. Each test uses its own pool (its own Coordinator), so no other test's
 * traffic shares its retention.
 */
const SCAN_MAX_ROWS = 50;

type Entry = {
  id: number;
  at: string;
  lastAt: string;
  count: number;
  kind: 'security' | 'scan';
  actor: string;
  action: string;
  decision: string;
  detail: Record<string, any>;
};

async function audit(pool: string, query = ''): Promise<{ entries: Entry[]; nextCursor: string | null }> {
  const res = await api(`/v1/audit?pool=${pool}${query.includes('limit=') ? '' : '&limit=500'}${query}`, {
    token: ADMIN,
  });
  expect(res.status, await res.clone().text()).toBe(200);
  return json(res);
}

async function mint(
  pool: string,
  name: string,
  role: 'scan' | 'admin' = 'scan',
): Promise<{ id: string; token: string }> {
  const res = await api('/v1/tokens', { method: 'POST', token: ADMIN, json: { name, role, pool } });
  expect(res.status).toBe(201);
  return json(res);
}

/** Runs `task` over `items`, `width` at a time. */
async function inBatches<T>(items: T[], width: number, task: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += width) await Promise.all(items.slice(i, i + width).map(task));
}

const refusedScan = (token: string) =>
  api('/v1/scans', { method: 'POST', token, json: { target: '8.8.8.8', args: '-sT -p 22' } });

describe('audit log under a flood of refusals', () => {
  it('keeps every security event while scan rows overflow their retention; one hostile token is a few counted rows', async () => {
    const pool = 'audit-attack';
    // The security events an attacker would want gone, made first: they are the oldest rows.
    const victim = await mint(pool, 'victim-admin', 'admin');
    expect((await api(`/v1/tokens/${victim.id}`, { method: 'DELETE', token: ADMIN })).status).toBe(200);
    const runner = await api('/v1/runners', {
      method: 'POST',
      token: ADMIN,
      json: { name: 'audit-attack-runner', pool, networks: ['127.0.0.0/8'] },
    });
    expect(runner.status).toBe(201);
    expect(
      (await api(`/v1/policy?pool=${pool}`, { method: 'PUT', token: ADMIN, json: { maxHosts: 512 } })).status,
    ).toBe(200);
    expect(
      (await api(`/v1/breakers/audit-attack-runner/open?pool=${pool}`, { method: 'POST', token: ADMIN })).status,
    ).toBe(200);

    // More distinct scan rows than the scan retention: 60 tokens, one refusal each (one aggregation row per token).
    const flood = await Promise.all(Array.from({ length: SCAN_MAX_ROWS + 10 }, (_, i) => mint(pool, `flood-${i}`)));
    await inBatches(flood, 20, async ({ token }) => expect((await refusedScan(token)).status).toBe(400));
    // Then one hostile token sends six times the scan retention in refusals (past its rate limit too).
    const hostile = await mint(pool, 'hostile-scanner');
    const SENT = 6 * SCAN_MAX_ROWS;
    const statuses = new Map<number, number>();
    await inBatches(Array.from({ length: SENT }), 25, async () => {
      const status = (await refusedScan(hostile.token)).status;
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
    });
    expect([...statuses.keys()].sort()).toEqual([400, 429]); // validation_error until the rate limit, then rate_limited

    // Every security event is still listed.
    const security = (await audit(pool, '&kind=security')).entries;
    expect(security.every((e) => e.kind === 'security')).toBe(true);
    const has = (action: string, match: (e: Entry) => boolean) => security.some((e) => e.action === action && match(e));
    expect(has('token.create', (e) => e.detail.tokenId === victim.id)).toBe(true);
    expect(has('token.revoke', (e) => e.detail.tokenId === victim.id)).toBe(true);
    expect(has('runner.create', (e) => e.detail.name === 'audit-attack-runner')).toBe(true);
    expect(has('policy.update', (e) => e.decision === 'accepted' && e.detail.after.maxHosts === 512)).toBe(true);
    expect(has('breaker.open', (e) => e.detail.runner === 'audit-attack-runner')).toBe(true);
    expect(security.filter((e) => e.action === 'token.create')).toHaveLength(flood.length + 2);

    // The scan table was held to its retention: the oldest flood rows are gone, the newest kept.
    const scans = (await audit(pool, '&kind=scan')).entries;
    expect(scans.length).toBeLessThanOrEqual(SCAN_MAX_ROWS);
    expect(scans.some((e) => e.actor === 'flood-0')).toBe(false);
    expect(scans.some((e) => e.actor === `flood-${flood.length - 1}`)).toBe(true);

    // The hostile token: one row per reason and minute, whose counts add up to exactly what it sent.
    const mine = (await audit(pool, '&kind=scan&actor=hostile-scanner')).entries;
    expect(mine.length).toBeLessThanOrEqual(4); // two reasons, at most two minutes
    expect(mine.reduce((sum, e) => sum + e.count, 0)).toBe(SENT);
    expect(new Set(mine.map((e) => e.detail.reason))).toEqual(new Set(['validation_error', 'rate_limited']));
    for (const row of mine) {
      expect(row).toMatchObject({
        action: 'scan.create',
        decision: 'refused',
        detail: { tokenId: expect.stringMatching(/^tok_/), target: '8.8.8.8' },
      });
      expect(Math.floor(Date.parse(row.at) / 60_000)).toBe(Math.floor(Date.parse(row.lastAt) / 60_000));
      expect(Date.parse(row.lastAt)).toBeGreaterThanOrEqual(Date.parse(row.at));
    }
    const byReason = (reason: string) =>
      mine.filter((e) => e.detail.reason === reason).reduce((sum, e) => sum + e.count, 0);
    expect(byReason('validation_error') + byReason('rate_limited')).toBe(SENT);
    expect(byReason('rate_limited')).toBe(statuses.get(429));
  });

  it('lists both kinds newest first, filters by kind, action, actor and time, and pages with a cursor', async () => {
    const pool = 'audit-filters';
    const tick = () => new Promise((resolve) => setTimeout(resolve, 5));
    const scanner = await mint(pool, 'filter-scanner');
    await tick();
    const before = new Date().toISOString();
    await tick();
    await refusedScan(scanner.token);
    await mint(pool, 'filter-second');
    await refusedScan(scanner.token);

    const all = (await audit(pool)).entries;
    expect(all.map((e) => e.id)).toEqual([...all.map((e) => e.id)].sort((a, b) => b - a));
    expect(all.filter((e) => e.kind === 'security').map((e) => `${e.action} ${e.detail.name}`)).toEqual([
      'token.create filter-second',
      'token.create filter-scanner',
    ]);
    // Both refusals in one row, or in two should the minute turn between them.
    const refusals = all.filter((e) => e.kind === 'scan');
    expect(
      refusals.every(
        (e) => e.action === 'scan.create' && e.actor === 'filter-scanner' && e.detail.reason === 'validation_error',
      ),
    ).toBe(true);
    expect(refusals.reduce((sum, e) => sum + e.count, 0)).toBe(2);
    expect((await audit(pool, '&kind=scan')).entries).toEqual(refusals);

    expect((await audit(pool, '&action=token.*')).entries.map((e) => e.detail.name)).toEqual([
      'filter-second',
      'filter-scanner',
    ]);
    expect((await audit(pool, '&action=token.create&actor=bootstrap%20admin')).entries).toHaveLength(2);
    expect((await audit(pool, '&actor=filter-scanner')).entries).toEqual(refusals);
    expect(
      (await audit(pool, `&since=${encodeURIComponent(before)}&kind=security`)).entries.map((e) => e.detail.name),
    ).toEqual(['filter-second']);
    expect((await audit(pool, `&until=${encodeURIComponent(before)}`)).entries.map((e) => e.detail.name)).toEqual([
      'filter-scanner',
    ]);

    // Pages of two, cursor to cursor, give the whole listing once.
    const paged: number[] = [];
    let cursor: string | null = '';
    while (cursor !== null) {
      const page: { entries: Entry[]; nextCursor: string | null } = await json(
        await api(`/v1/audit?pool=${pool}&limit=2${cursor ? `&cursor=${cursor}` : ''}`, { token: ADMIN }),
      );
      expect(page.entries.length).toBeLessThanOrEqual(2);
      paged.push(...page.entries.map((e) => e.id));
      cursor = page.nextCursor;
    }
    expect(paged).toEqual(all.map((e) => e.id));

    for (const bad of ['kind=other', 'since=yesterday', 'action=DROP%20TABLE', 'cursor=-1']) {
      const res = await api(`/v1/audit?pool=${pool}&${bad}`, { token: ADMIN });
      expect(res.status, bad).toBe(400);
      expect((await json(res)).error.type).toBe('validation_error');
    }
  });

  it('migration 5 keeps every existing row with its id and classifies it', async () => {
    const pool = 'audit-migration';
    const stub = getCoordinator(env, pool);
    // Put this pool's storage back to schema 4 with rows in the old single table, then migrate as on a deploy.
    await runInDurableObject(stub, (_instance, state) => {
      const sql = state.storage.sql;
      sql.exec('DROP TABLE audit_security; DROP TABLE audit_scan; DELETE FROM schema_migrations WHERE version >= 5');
      // Undo what later migrations added, so they apply again after this one.
      for (const column of ['stdout_bytes', 'stderr_bytes', 'output_frames', 'edge_truncated'])
        sql.exec(`ALTER TABLE jobs DROP COLUMN ${column}`);
      sql.exec('ALTER TABLE runners DROP COLUMN conflict');
      sql.exec('DROP TABLE inventory_hosts; DROP TABLE inventory_services; DROP INDEX jobs_by_targets');
      sql.exec('ALTER TABLE jobs DROP COLUMN changes');
      sql.exec('DROP TABLE schedules; DROP INDEX jobs_by_schedule; ALTER TABLE jobs DROP COLUMN schedule_id');
      sql.exec('ALTER TABLE jobs DROP COLUMN xml_bytes');
      sql.exec('DROP TABLE alert_rules; DROP TABLE alert_deliveries; DROP TABLE alert_offline_sent');
      sql.exec(
        'CREATE TABLE audit (id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, decision TEXT NOT NULL, detail TEXT NOT NULL)',
      );
      const old: Array<[string, string, string]> = [
        ['admin', 'token.create', 'accepted'],
        ['scanner', 'scan.create', 'refused'],
        ['admin', 'runner.create', 'accepted'],
        ['scanner', 'scan.finish', 'succeeded'],
        ['admin', 'policy.update', 'accepted'],
        ['runner-1', 'runner.hello', 'refused'],
      ];
      old.forEach(
        ([actor, action, decision], i) =>
          void sql.exec(
            'INSERT INTO audit (at, actor, action, decision, detail) VALUES (?, ?, ?, ?, ?)',
            1_700_000_000_000 + i,
            actor,
            action,
            decision,
            JSON.stringify({ n: i }),
          ),
      );
      expect(applyMigrations(sql, COORDINATOR_MIGRATIONS)).toBe(COORDINATOR_MIGRATIONS.at(-1)!.version);
    });
    await evictDurableObject(stub);
    const entries = (await audit(pool)).entries;
    expect(entries.map((e) => [e.id, e.kind, e.action, e.detail.n, e.count])).toEqual([
      [6, 'security', 'runner.hello', 5, 1],
      [5, 'security', 'policy.update', 4, 1],
      [4, 'scan', 'scan.finish', 3, 1],
      [3, 'security', 'runner.create', 2, 1],
      [2, 'scan', 'scan.create', 1, 1],
      [1, 'security', 'token.create', 0, 1],
    ]);
    // New rows continue the id sequence after the migrated ones.
    await mint(pool, 'after-migration');
    expect((await audit(pool, '&limit=1')).entries[0]).toMatchObject({ id: 7, action: 'token.create' });
  });
});

describe('audit classification and aggregation rules', () => {
  it('files scan decisions apart from everything else', () => {
    for (const action of ['scan.create', 'scan.cancel', 'scan.finish']) expect(kindOf(action)).toBe('scan');
    for (const action of [
      'token.create',
      'token.revoke',
      'runner.create',
      'runner.hello',
      'policy.update',
      'breaker.open',
      'login.failure',
      'login.throttled',
    ])
      expect(kindOf(action)).toBe('security');
  });

  it('aggregates refusals only, per action, token, reason and minute', () => {
    const t = Date.UTC(2026, 10, 30, 4, 0, 10);
    const detail = { tokenId: 'tok_1', reason: 'validation_error' };
    expect(aggregationKey(t, 'a', 'scan.create', 'accepted', detail)).toBeNull();
    const key = aggregationKey(t, 'a', 'scan.create', 'refused', detail);
    expect(aggregationKey(t + 40_000, 'renamed', 'scan.create', 'refused', { ...detail, target: 'other' })).toBe(key);
    expect(aggregationKey(t + 50_000, 'a', 'scan.create', 'refused', detail)).not.toBe(key); // next minute
    expect(aggregationKey(t, 'a', 'scan.create', 'refused', { ...detail, tokenId: 'tok_2' })).not.toBe(key);
    expect(aggregationKey(t, 'a', 'scan.create', 'refused', { ...detail, reason: 'rate_limited' })).not.toBe(key);
    expect(aggregationKey(t, 'a', 'login.failure', 'refused', { reason: 'invalid_token' })).toBe(
      aggregationKey(t, 'a', 'login.failure', 'refused', { reason: 'invalid_token', address: 'x' }),
    );
  });
});
