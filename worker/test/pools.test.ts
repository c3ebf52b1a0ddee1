import { describe, expect, it } from 'vitest';
import { ADMIN, api, json, mintToken } from './helpers/runner-client.ts';

/**
 * An admin token minted for one pool acts on that pool only: it cannot change another pool's policy, read its
 * audit, list or revoke its tokens, or mint tokens there. A global admin (the bootstrap token, or an admin token
 * minted with pool "*") reaches every pool. /health and /metrics cover every pool.
 */
async function mintIn(
  pool: string,
  role: 'scan' | 'admin',
  name: string,
  by = ADMIN,
): Promise<{ id: string; token: string; status: number; body: Record<string, any> }> {
  const res = await api('/v1/tokens', { method: 'POST', token: by, json: { name, role, pool } });
  const body = await json(res);
  return { id: body.id, token: body.token, status: res.status, body };
}

describe('admin tokens are scoped to their pool', () => {
  it('a pool admin cannot touch another pool, and that pool is unaffected', async () => {
    const otherAdmin = (await mintIn('other', 'admin', 'other-admin')).token;
    const defaultScan = await mintIn('default', 'scan', 'default-scanner');
    const before = (await json(await api('/v1/policy', { token: ADMIN }))).policy;

    // Its own pool, by default and by name.
    expect((await api('/v1/policy', { method: 'PUT', token: otherAdmin, json: { maxHosts: 7 } })).status).toBe(200);
    expect((await json(await api('/v1/policy?pool=other', { token: ADMIN }))).policy.maxHosts).toBe(7);

    // Another pool: refused, every way.
    const attempts: Array<[string, RequestInit & { json?: unknown }]> = [
      ['/v1/policy?pool=default', { method: 'PUT', json: { maxHosts: 65536, allowIntrusive: true } }],
      ['/v1/policy?pool=default', {}],
      ['/v1/audit?pool=default', {}],
      ['/v1/runners?pool=default', {}],
      ['/v1/breakers?pool=default', {}],
      ['/v1/tokens', { method: 'POST', json: { name: 'sneaky', role: 'admin', pool: 'default' } }],
      ['/v1/tokens', { method: 'POST', json: { name: 'sneaky-global', role: 'admin', pool: '*' } }],
      ['/v1/runners', { method: 'POST', json: { name: 'sneaky-runner', pool: 'default', networks: ['127.0.0.0/8'] } }],
    ];
    for (const [path, init] of attempts) {
      const res = await api(path, { ...init, token: otherAdmin });
      expect(res.status, `${init.method ?? 'GET'} ${path}`).toBe(403);
      expect((await json(res)).error.type).toBe('forbidden');
    }
    // Another pool's token is not found to it, and keeps working.
    expect((await api(`/v1/tokens/${defaultScan.id}`, { method: 'DELETE', token: otherAdmin })).status).toBe(404);
    expect((await api('/v1/scans', { token: defaultScan.token })).status).toBe(200);
    const listed = (await json(await api('/v1/tokens', { token: otherAdmin }))).tokens as Array<{ pool: string }>;
    expect(listed.length).toBeGreaterThan(0);
    expect(listed.every((t) => t.pool === 'other')).toBe(true);

    // The default pool is as it was.
    expect((await json(await api('/v1/policy', { token: ADMIN }))).policy).toEqual(before);
  });

  it('a global admin, minted by name with pool "*", reaches every pool; nobody else can mint one', async () => {
    const global = await mintIn('*', 'admin', 'global-admin');
    expect(global.status).toBe(201);
    expect(global.body.pool).toBe('*');
    expect((await api('/v1/policy?pool=other', { token: global.token })).status).toBe(200);
    expect((await api('/v1/audit?pool=default', { token: global.token })).status).toBe(200);
    expect((await mintIn('*', 'scan', 'global-scanner')).status).toBe(403);
    const poolAdmin = (await mintIn('lab-two', 'admin', 'lab-two-admin')).token;
    expect((await mintIn('*', 'admin', 'escalate', poolAdmin)).status).toBe(403);
  });
});

describe('/health and /metrics cover every pool', () => {
  it('labels every pool in /metrics for a global admin, and only its own for a pool admin', async () => {
    const poolAdmin = (await mintIn('metrics-pool', 'admin', 'metrics-admin')).token;
    await mintToken('scan', 'metrics-default-scanner');
    const all = await (await api('/metrics', { token: ADMIN })).text();
    expect(all).toContain('scangate_queue_depth{pool="default"} 0');
    expect(all).toContain('scangate_queue_depth{pool="metrics-pool"} 0');
    expect(all.match(/^# TYPE scangate_queue_depth /gm)).toHaveLength(1);
    const own = await (await api('/metrics', { token: poolAdmin })).text();
    expect(own).toContain('scangate_queue_depth{pool="metrics-pool"} 0');
    expect(own).not.toContain('pool="default"');
  });

  it('reports every pool in /health, naming them only to admins who may see them', async () => {
    const poolAdmin = (await mintIn('health-pool', 'admin', 'health-admin')).token;
    const open = await json(await api('/health'));
    expect(open.pools.count).toBeGreaterThanOrEqual(2);
    expect(open.pools.byName).toBeUndefined();
    expect(open.checks.coordinator.ok).toBe(true);
    const mine = await json(await api('/health', { token: poolAdmin }));
    expect(Object.keys(mine.pools.byName)).toEqual(['health-pool']);
    const everything = await json(await api('/health', { token: ADMIN }));
    expect(Object.keys(everything.pools.byName)).toEqual(expect.arrayContaining(['default', 'health-pool']));
  });
});
