import { Hono } from 'hono';
import { authenticate, requireRole, type AppEnv, type Principal } from '../auth.ts';
import { getCoordinator } from '../../objects/coordinator.do.ts';
import { getDirectory } from '../../objects/directory.do.ts';
import type { Env } from '../../env.ts';
import { DEFAULT_POOL, GLOBAL_POOL, mayReach } from '../../domain/pools.ts';
import { renderPrometheus, withPool } from '../../storage/metrics.ts';
import { SHARDS } from '../../domain/tokens.ts';

/**
 * `/health` and `/metrics` over every pool. Pools have no registry of their own: a pool exists once a token or
 * runner is minted for it (plus `default`, always), so the Directory's token list names them.
 */
async function knownPools(env: Env): Promise<string[]> {
  const lists = await Promise.all(Array.from({ length: SHARDS }, (_, i) => getDirectory(env, i.toString(16)).list()));
  const pools = new Set([
    DEFAULT_POOL,
    ...lists
      .flat()
      .map((t) => t.pool)
      .filter((p) => p !== GLOBAL_POOL),
  ]);
  return [...pools].sort();
}

interface PoolHealth {
  status: 'healthy' | 'degraded' | 'unhealthy';
  checks: {
    coordinator: { ok: boolean; schemaVersion?: number; error?: string };
    runners: { ok: boolean; connected: number };
    breakers: { ok: boolean; open: number };
    queue: { ok: boolean; depth: number };
  };
}

async function poolHealth(env: Env, pool: string): Promise<PoolHealth> {
  try {
    const h = await getCoordinator(env, pool).health();
    const checks = {
      coordinator: { ok: true, schemaVersion: h.schemaVersion },
      runners: { ok: h.runnersConnected > 0, connected: h.runnersConnected },
      breakers: { ok: h.breakersOpen === 0, open: h.breakersOpen },
      queue: { ok: h.queueDepth === 0, depth: h.queueDepth },
    };
    return { status: Object.values(checks).every((c) => c.ok) ? 'healthy' : 'degraded', checks };
  } catch (e) {
    const none = { ok: false, connected: 0 };
    return {
      status: 'unhealthy',
      checks: {
        coordinator: { ok: false, error: (e as Error).message },
        runners: none,
        breakers: { ok: false, open: 0 },
        queue: { ok: false, depth: 0 },
      },
    };
  }
}

/** The worst status wins; counts add up over pools. */
function combine(pools: PoolHealth[]): PoolHealth {
  const status = pools.some((p) => p.status === 'unhealthy')
    ? 'unhealthy'
    : pools.some((p) => p.status === 'degraded')
      ? 'degraded'
      : 'healthy';
  const failed = pools.find((p) => !p.checks.coordinator.ok);
  const sum = (pick: (p: PoolHealth) => number) => pools.reduce((n, p) => n + pick(p), 0);
  return {
    status,
    checks: {
      coordinator: failed
        ? failed.checks.coordinator
        : { ok: true, schemaVersion: Math.min(...pools.map((p) => p.checks.coordinator.schemaVersion ?? 0)) },
      runners: { ok: pools.every((p) => p.checks.runners.ok), connected: sum((p) => p.checks.runners.connected) },
      breakers: { ok: pools.every((p) => p.checks.breakers.ok), open: sum((p) => p.checks.breakers.open) },
      queue: { ok: pools.every((p) => p.checks.queue.ok), depth: sum((p) => p.checks.queue.depth) },
    },
  };
}

export const opsApi = new Hono<AppEnv>()
  /**
   * Public: the combined status of every pool, and how many pools there are. An admin token (Authorization) also
   * gets each pool it may see, by name; pool names are not shown to anyone else.
   */
  .get('/health', async (c) => {
    const pools = await knownPools(c.env).catch(() => [DEFAULT_POOL]);
    const each = await Promise.all(pools.map((pool) => poolHealth(c.env, pool)));
    const overall = combine(each);
    const caller: Principal | undefined = c.req.header('authorization')
      ? await authenticate(c.req.header('authorization'), c.env).catch(() => undefined)
      : undefined;
    const detail =
      caller?.role === 'admin'
        ? Object.fromEntries(
            pools.map((pool, i) => [pool, each[i]!] as const).filter(([pool]) => mayReach(caller, pool)),
          )
        : undefined;
    return c.json(
      { ...overall, pools: { count: pools.length, ...(detail && { byName: detail }) } },
      overall.status === 'unhealthy' ? 503 : 200,
    );
  })
  /** Every pool a global admin may see (a pool admin: its own), each sample labelled with its pool. */
  .get('/metrics', requireRole('admin'), async (c) => {
    const pools = (await knownPools(c.env)).filter((pool) => mayReach(c.var.principal, pool));
    const samples = (
      await Promise.all(
        pools.map(async (pool) =>
          (await getCoordinator(c.env, pool).metricSamples()).map((s) => ({ ...s, labels: withPool(s.labels, pool) })),
        ),
      )
    ).flat();
    return c.text(renderPrometheus(samples), 200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
  });
