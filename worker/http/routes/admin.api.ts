/**
 * The admin API (tokens, runners, policy, breakers, audit) and the runner's own two routes (self-check, link).
 * Longer than our ~300-line rule because each route is a few lines of zod schema, pool scoping and one Coordinator
 * call, and splitting them by resource would scatter the one place that shows every admin route and its role.
 */
import { Hono } from 'hono';
import { z } from 'zod';
import { ScangateError, scanError, type JsonValue } from '../../../shared/errors/index.ts';
import { authenticate, requireRole, unauthorized, type AppEnv, type Principal } from '../auth.ts';
import { getCoordinator } from '../../objects/coordinator.do.ts';
import { unwrap, type Result } from '../../domain/result.ts';
import type { Env } from '../../env.ts';
import { getDirectory } from '../../objects/directory.do.ts';
import { hashToken, mintToken, randomShard, shardOfTokenId, SHARDS } from '../../domain/tokens.ts';
import { nestsAtMost, SUPPORTED_PROTOCOLS } from '../../../shared/protocol/index.ts';
import type { RunnerSelf } from '../../../shared/protocol/runner-self.ts';
import type { RunnerRecord } from '../../storage/runners.store.ts';
import { valid } from './validators.ts';
import { issueEnrollment } from './enrollment.api.ts';
import { runnerSummary } from '../../domain/runner-view.ts';
import { GLOBAL_POOL, mayReach, poolFor, PoolName } from '../../domain/pools.ts';

const Name = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9 ._-]*$/, 'letters, digits, space, dot, underscore, hyphen');
const Pool = PoolName.optional();
/** An instant as an ISO 8601 date-time (or a date), turned into epoch ms. */
const Instant = z
  .string()
  .max(40)
  .refine((s) => !Number.isNaN(Date.parse(s)), 'an ISO 8601 time, e.g. 2026-11-30T04:00:00Z')
  .transform((s) => Date.parse(s));
/** `GET /v1/audit` filters (README, API). */
const AuditQuery = z.object({
  pool: Pool,
  limit: z.coerce.number().int().min(1).max(500).default(100),
  cursor: z
    .string()
    .regex(/^\d{1,16}$/)
    .optional(),
  kind: z.enum(['security', 'scan']).optional(),
  action: z
    .string()
    .regex(/^[a-z][a-z_.]{0,63}\*?$/, 'an action such as token.create, or a prefix such as token.*')
    .optional(),
  actor: z.string().min(1).max(128).optional(),
  since: Instant.optional(),
  until: Instant.optional(),
});
const shards = () => Array.from({ length: SHARDS }, (_, i) => i.toString(16));

/** Revokes a runner in its pool (its socket is cut at once) and its tokens in the Directory. */
export async function revokeRunnerEverywhere(
  env: Env,
  pool: string,
  idOrName: string,
  actor: string,
): Promise<Result<RunnerRecord>> {
  const revoked = await getCoordinator(env, pool).revokeRunner(idOrName, actor);
  if (revoked.ok) await getDirectory(env, revoked.value.id.slice(3, 4)).revoke({ runnerId: revoked.value.id });
  return revoked;
}

/** Tokens, runners, policy, breakers, audit: admin only, except where said. */
export const adminApi = new Hono<AppEnv>()
  .post(
    '/v1/tokens',
    requireRole('admin'),
    valid(
      'json',
      z.strictObject({
        name: Name,
        role: z.enum(['scan', 'admin']),
        pool: z.union([PoolName, z.literal(GLOBAL_POOL)]).optional(),
      }),
    ),
    async (c) => {
      const { name, role } = c.req.valid('json');
      const requested = c.req.valid('json').pool;
      if (requested === GLOBAL_POOL && (role !== 'admin' || !c.var.principal.global)) {
        throw new ScangateError(
          scanError(
            'forbidden',
            role === 'admin'
              ? 'Only a global admin may mint a global admin token (pool "*")'
              : 'Only admin tokens may be global (pool "*")',
            'Name one pool for the token.',
          ),
        );
      }
      const pool = requested === GLOBAL_POOL ? GLOBAL_POOL : poolFor(c.var.principal, requested);
      const minted = mintToken('api');
      await getDirectory(c.env, minted.shard).store({
        id: minted.id,
        hash: await hashToken(minted.token),
        kind: 'api',
        role,
        name,
        pool,
        runnerId: null,
        createdAt: Date.now(),
      });
      await getCoordinator(c.env, pool === GLOBAL_POOL ? c.var.principal.pool : pool).recordAudit(
        c.var.principal.name,
        'token.create',
        'accepted',
        { tokenId: minted.id, name, role, pool },
      );
      return c.json({ id: minted.id, name, role, pool, token: minted.token }, 201);
    },
  )
  .get('/v1/tokens', requireRole('admin'), async (c) => {
    const all = (await Promise.all(shards().map((s) => getDirectory(c.env, s).list())))
      .flat()
      .filter((t) => mayReach(c.var.principal, t.pool))
      .sort((a, b) => a.createdAt - b.createdAt);
    return c.json({
      tokens: all.map((t) => ({
        ...t,
        createdAt: new Date(t.createdAt).toISOString(),
        lastUsedAt: t.lastUsedAt && new Date(t.lastUsedAt).toISOString(),
        revokedAt: t.revokedAt && new Date(t.revokedAt).toISOString(),
      })),
    });
  })
  .delete('/v1/tokens/:id', requireRole('admin'), async (c) => {
    const id = c.req.param('id');
    const shard = shardOfTokenId(id);
    // Another pool's token is "not found" to a pool admin: it may not learn that it exists, let alone revoke it.
    const found = shard ? (await getDirectory(c.env, shard).list()).find((t) => t.id === id) : undefined;
    const revoked =
      found && mayReach(c.var.principal, found.pool) ? await getDirectory(c.env, shard!).revoke({ id }) : [];
    const record = revoked[0];
    if (!record) throw new ScangateError(scanError('not_found', `No token ${id}`, 'List tokens with GET /v1/tokens.'));
    const pool = record.pool === GLOBAL_POOL ? c.var.principal.pool : record.pool;
    if (record.runnerId) await getCoordinator(c.env, pool).revokeRunner(record.runnerId, c.var.principal.name);
    // Streams were authorised when they opened: end the ones this token holds, so it reads nothing more.
    const closed = await getCoordinator(c.env, pool).closeStreamsOf(id);
    await getCoordinator(c.env, pool).recordAudit(c.var.principal.name, 'token.revoke', 'accepted', {
      tokenId: id,
      streamsClosed: closed,
    });
    return c.json({ revoked: { id, name: record.name, role: record.role } });
  })
  .post(
    '/v1/runners',
    requireRole('admin'),
    valid(
      'json',
      z.strictObject({
        name: Name,
        pool: Pool,
        networks: z.array(z.string().max(64)).min(1).max(64),
        // A one-time enrollment code and install command instead of the token (enrollment.api.ts).
        enroll: z.boolean().optional(),
      }),
    ),
    async (c) => {
      const { name, networks, enroll } = c.req.valid('json');
      const pool = poolFor(c.var.principal, c.req.valid('json').pool);
      const shard = randomShard();
      const minted = mintToken('runner', shard);
      const runnerId = `rn_${shard}${minted.id.slice(5)}`;
      unwrap(await getCoordinator(c.env, pool).createRunner(runnerId, name, networks, c.var.principal.name));
      if (enroll) {
        const runner = { id: runnerId, name, pool, networks };
        const enrollment = await issueEnrollment(c.env, c.req.url, runner, c.var.principal.name);
        return c.json({ ...runner, enrollment }, 201);
      }
      await getDirectory(c.env, shard).store({
        id: minted.id,
        hash: await hashToken(minted.token),
        kind: 'runner',
        role: 'runner',
        name,
        pool,
        runnerId,
        createdAt: Date.now(),
      });
      return c.json({ id: runnerId, name, pool, networks, token: minted.token }, 201);
    },
  )
  .get('/v1/runners', requireRole('admin'), valid('query', z.object({ pool: Pool })), async (c) => {
    const runners = await getCoordinator(c.env, poolFor(c.var.principal, c.req.valid('query').pool)).listRunners();
    const now = Date.now();
    return c.json({
      runners: runners.map((record) => {
        const r = runnerSummary(record, now);
        return {
          ...r,
          lastSeen: r.lastSeen && new Date(r.lastSeen).toISOString(),
          conflict: r.conflict && {
            ...r.conflict,
            firstAt: new Date(r.conflict.firstAt).toISOString(),
            lastAt: new Date(r.conflict.lastAt).toISOString(),
          },
        };
      }),
    });
  })
  .delete('/v1/runners/:id', requireRole('admin'), valid('query', z.object({ pool: Pool })), async (c) => {
    const runner = unwrap(
      await revokeRunnerEverywhere(
        c.env,
        poolFor(c.var.principal, c.req.valid('query').pool),
        c.req.param('id'),
        c.var.principal.name,
      ),
    );
    return c.json({ revoked: { id: runner.id, name: runner.name } });
  })
  .get('/v1/policy', requireRole('admin'), valid('query', z.object({ pool: Pool })), async (c) => {
    return c.json({
      policy: await getCoordinator(c.env, poolFor(c.var.principal, c.req.valid('query').pool)).getPolicy(),
    });
  })
  .put('/v1/policy', requireRole('admin'), valid('query', z.object({ pool: Pool })), async (c) => {
    const input = await c.req.json<JsonValue>().catch(() => {
      throw new ScangateError(
        scanError('validation_error', 'The body is not JSON', 'Send the policy fields as a JSON object.'),
      );
    });
    // A policy is two levels deep; a body nested thousands deep would overflow the RPC serialiser on its way in.
    if (!nestsAtMost(input, 8))
      throw new ScangateError(
        scanError(
          'validation_error',
          'The body is nested deeper than any policy field',
          'Send the policy fields as a flat JSON object (see GET /v1/policy).',
        ),
      );
    const { policy, clamps } = unwrap(
      await getCoordinator(c.env, poolFor(c.var.principal, c.req.valid('query').pool)).putPolicy(
        input,
        c.var.principal.name,
      ),
    );
    return c.json({ policy, clamps });
  })
  .get('/v1/breakers', requireRole('admin'), valid('query', z.object({ pool: Pool })), async (c) => {
    const list = await getCoordinator(c.env, poolFor(c.var.principal, c.req.valid('query').pool)).listBreakers();
    return c.json({
      breakers: list.map(({ runnerId, runner, breaker: b, threshold }) => ({
        runnerId,
        runner,
        state: b.state,
        consecutiveFailures: b.consecutiveFailures,
        failureThreshold: threshold,
        recoveryTimeoutSec: b.recoveryTimeoutSec,
        nextHalfOpenAt: b.halfOpenAt && new Date(b.halfOpenAt).toISOString(),
        counts: b.counts,
        transitions: b.transitions.map((t) => ({ ...t, at: new Date(t.at).toISOString() })),
        errors: b.errors.map((e) => ({ ...e, at: new Date(e.at).toISOString() })),
      })),
    });
  })
  .post(
    '/v1/breakers/:name/:action{reset|open|close}',
    requireRole('admin'),
    valid('query', z.object({ pool: Pool })),
    async (c) => {
      const action = c.req.param('action') as 'reset' | 'open' | 'close';
      const breaker = unwrap(
        await getCoordinator(c.env, poolFor(c.var.principal, c.req.valid('query').pool)).breakerAction(
          c.req.param('name'),
          action,
          c.var.principal.name,
        ),
      );
      return c.json({
        state: breaker.state,
        nextHalfOpenAt: breaker.halfOpenAt && new Date(breaker.halfOpenAt).toISOString(),
      });
    },
  )
  .get('/v1/audit', requireRole('admin'), valid('query', AuditQuery), async (c) => {
    const { pool, cursor, ...q } = c.req.valid('query');
    return c.json(
      await getCoordinator(c.env, poolFor(c.var.principal, pool)).audit({
        ...q,
        ...(cursor && { before: Number(cursor) }),
      }),
    );
  })
  // The runner's read-only self-check (what `scangate-runner doctor` asks): its name, grant, link and the pool
  // policy it must agree with. It never touches the link, so a live runner on the same token stays connected.
  .get('/v1/runners/self', async (c) => {
    const principal = await runnerPrincipal(
      c.req.header('authorization'),
      c.env,
      'Only runner tokens have a runner self-check',
    );
    const coordinator = getCoordinator(c.env, principal.pool);
    const [runner, policy] = await Promise.all([coordinator.runner(principal.runnerId), coordinator.getPolicy()]);
    if (!runner || runner.revokedAt !== null) {
      throw new ScangateError(
        scanError(
          'forbidden',
          'This runner was revoked by an admin',
          'Ask an admin for a new runner token (POST /v1/runners).',
        ),
      );
    }
    return c.json({
      runner: { id: runner.id, name: runner.name, pool: principal.pool },
      grantedNetworks: runner.granted ?? policy.allowedNetworks,
      // `online` is the edge's view now; the hello fields describe the live link (or the last one).
      link: {
        online: runner.connected,
        lastSeen: runner.lastSeen === null ? null : new Date(runner.lastSeen).toISOString(),
        declaredNetworks: runner.hello?.networks ?? null,
        runnerVersion: runner.hello?.runnerVersion ?? null,
        nmapVersion: runner.hello?.nmapVersion ?? null,
        privileged: runner.hello?.privileged ?? null,
      },
      breaker: runner.breaker.state,
      edge: { protocols: [...SUPPORTED_PROTOCOLS], heartbeatSec: Number(c.env.HEARTBEAT_SEC) || 30 },
      policy: {
        allowedNetworks: policy.allowedNetworks,
        allowIntrusive: policy.allowIntrusive,
        allowEvasion: policy.allowEvasion,
      },
    } satisfies RunnerSelf);
  })
  // The runner link: checked here, before any Durable Object is touched. Who asks comes first (401/403), then how.
  .get('/v1/runners/connect', async (c) => {
    const principal = await runnerPrincipal(
      c.req.header('authorization'),
      c.env,
      'Only runner tokens may open the runner link',
    );
    if (c.req.header('upgrade')?.toLowerCase() !== 'websocket') {
      throw new ScangateError(
        scanError(
          'validation_error',
          'This endpoint takes a WebSocket upgrade',
          'Connect with scangate-runner; to check a runner token without connecting, use GET /v1/runners/self.',
        ),
      );
    }
    return getCoordinator(c.env, principal.pool).fetch(
      new Request('https://coordinator/connect', {
        headers: { upgrade: 'websocket', 'x-runner-id': principal.runnerId },
      }),
    );
  });

/** The runner a runner token stands for: 401 without a valid token, 403 for any other kind of token. */
async function runnerPrincipal(
  header: string | undefined,
  env: Env,
  refusal: string,
): Promise<Principal & { runnerId: string }> {
  const principal = await authenticate(header, env);
  if (!principal) throw unauthorized();
  if (principal.role !== 'runner' || !principal.runnerId) {
    throw new ScangateError(scanError('forbidden', refusal, 'Use the runner token printed by POST /v1/runners.'));
  }
  return { ...principal, runnerId: principal.runnerId };
}
