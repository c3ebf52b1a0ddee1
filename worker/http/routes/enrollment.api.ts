/**
 * Runner enrollment (worker/domain/enrollment.ts): an admin gets a one-time code and the exact install command;
 * the lab host's installer trades the code for the runner token. Also serves the install script.
 *
 *   POST /v1/runners/:id/enrollment   admin    a new code for an existing runner (an unused older one stops working)
 *   POST /v1/runners/enroll {code}    none     the code → { runner, networks, token }; once, within the hour
 *   GET  /install/runner.sh           none     the POSIX install script (install-script.ts)
 */
import { Hono } from 'hono';
import { z } from 'zod';
import { ScangateError, scanError } from '../../../shared/errors/index.ts';
import {
  ENROLL_FAILURE_LIMIT,
  ENROLLMENT_TTL_MS,
  enrollmentShard,
  installCommand,
  mintEnrollmentCode,
} from '../../domain/enrollment.ts';
import { addressBucket, LOGIN_WINDOW_MS, retryAfterSec } from '../../domain/login-throttle.ts';
import { poolFor, PoolName } from '../../domain/pools.ts';
import { hashToken, mintToken, randomShard, randomToken } from '../../domain/tokens.ts';
import { fail, ok, type Result, unwrap } from '../../domain/result.ts';
import type { Env } from '../../env.ts';
import { getCoordinator } from '../../objects/coordinator.do.ts';
import { getDirectory } from '../../objects/directory.do.ts';
import { type AppEnv, requireRole } from '../auth.ts';
import { runnerInstallScript } from './install-script.ts';
import { valid } from './validators.ts';

export interface Enrollment {
  code: string;
  expiresAt: string;
  installCommand: string;
}

/** The origin the edge is reached at: PUBLIC_ORIGIN when set (behind a proxy the request URL may differ). */
function publicOrigin(env: Env, requestUrl: string): string {
  return (env.PUBLIC_ORIGIN || new URL(requestUrl).origin).replace(/\/+$/, '');
}

/** Makes and stores (hashed) a one-time code for a runner in its Directory shard, audited in its pool. */
export async function issueEnrollment(
  env: Env,
  requestUrl: string,
  runner: { id: string; name: string; pool: string; networks: readonly string[] },
  actor: string,
): Promise<Enrollment> {
  const shard = runner.id.slice(3, 4);
  const code = mintEnrollmentCode(shard, randomToken);
  const now = Date.now();
  const expiresAt = now + ENROLLMENT_TTL_MS;
  await getDirectory(env, shard).storeEnrollment(await hashToken(code), {
    runnerId: runner.id,
    name: runner.name,
    pool: runner.pool,
    createdBy: actor,
    createdAt: now,
    expiresAt,
  });
  await getCoordinator(env, runner.pool).recordAudit(actor, 'runner.enrollment.create', 'accepted', {
    runnerId: runner.id,
    name: runner.name,
    expiresAt: new Date(expiresAt).toISOString(),
  });
  return {
    code,
    expiresAt: new Date(expiresAt).toISOString(),
    installCommand: installCommand(publicOrigin(env, requestUrl), code, runner.networks),
  };
}

export interface EnrolledRunner {
  id: string;
  name: string;
  pool: string;
  networks: string[];
  enrollment: Enrollment;
}

/** A new code for a live runner of the pool, by id or name (the API route and the dashboard). */
export async function enrollRunner(
  env: Env,
  requestUrl: string,
  pool: string,
  idOrName: string,
  actor: string,
): Promise<Result<EnrolledRunner>> {
  const coordinator = getCoordinator(env, pool);
  const [runners, policy] = await Promise.all([coordinator.listRunners(), coordinator.getPolicy()]);
  const runner = runners.find((r) => (r.id === idOrName || r.name === idOrName) && r.revokedAt === null);
  if (!runner)
    return fail(
      scanError('not_found', `No live runner ${idOrName}`, 'List runners with GET /v1/runners, or create one.'),
    );
  const networks = runner.granted ?? policy.allowedNetworks;
  const target = { id: runner.id, name: runner.name, pool, networks };
  return ok({ ...target, enrollment: await issueEnrollment(env, requestUrl, target, actor) });
}

/** Creates a runner with its granted networks and a code for it, no token (the dashboard's "Add a runner"). */
export async function createEnrolledRunner(
  env: Env,
  requestUrl: string,
  pool: string,
  name: string,
  networks: string[],
  actor: string,
): Promise<Result<EnrolledRunner>> {
  const shard = randomShard();
  const id = `rn_${shard}${mintToken('runner', shard).id.slice(5)}`;
  const created = await getCoordinator(env, pool).createRunner(id, name, networks, actor);
  if (!created.ok) return created;
  const target = { id, name, pool, networks };
  return ok({ ...target, enrollment: await issueEnrollment(env, requestUrl, target, actor) });
}

const REFUSALS = {
  unknown: [
    'No such enrollment code',
    'Check the code, or ask an admin for a new one (POST /v1/runners/:id/enrollment).',
  ],
  used: [
    'This enrollment code was already used',
    'A code works once. If this host is not enrolled, ask an admin for a new code (POST /v1/runners/:id/enrollment).',
  ],
  expired: [
    'This enrollment code has expired (codes last one hour)',
    'Ask an admin for a new code (POST /v1/runners/:id/enrollment, or the dashboard).',
  ],
  revoked: [
    'This enrollment code was revoked: its runner was revoked, or a newer code replaced it',
    'Ask an admin for a new code, or create the runner again.',
  ],
} as const;

const ACTOR = 'runner enrollment';

export const enrollmentApi = new Hono<AppEnv>()
  .post('/v1/runners/enroll', valid('json', z.strictObject({ code: z.string().max(64) })), async (c) => {
    const { code } = c.req.valid('json');
    const address = c.req.header('cf-connecting-ip') ?? 'unknown';
    // Failed exchanges are counted per client address, as dashboard logins are (hashed bucket, 16 shards).
    const bucket = await hashToken(`enroll-address:${addressBucket(address)}`);
    const throttle = getDirectory(c.env, bucket[0]!);
    const wait = retryAfterSec(await throttle.loginFailures(bucket), Date.now(), ENROLL_FAILURE_LIMIT, LOGIN_WINDOW_MS);
    if (wait !== null) {
      await getCoordinator(c.env).recordAudit(ACTOR, 'runner.enroll.throttled', 'refused', {
        address,
        retryAfterSec: wait,
      });
      throw new ScangateError(
        scanError(
          'rate_limited',
          `Too many failed enrollment attempts from this address: ${ENROLL_FAILURE_LIMIT} in ${LOGIN_WINDOW_MS / 60_000} minutes`,
          `Wait ${wait} s, then use the code exactly as the admin's install command shows it.`,
          { retryAfterSec: wait },
        ),
      );
    }
    const shard = enrollmentShard(code);
    const minted = shard ? mintToken('runner', shard) : undefined;
    const redeemed =
      shard && minted
        ? await getDirectory(c.env, shard).redeemEnrollment(await hashToken(code), {
            id: minted.id,
            hash: await hashToken(minted.token),
          })
        : ({ ok: false, reason: 'unknown' } as const);
    if (!redeemed.ok || !minted) {
      await throttle.loginFailed(bucket);
      const reason = redeemed.ok ? 'unknown' : redeemed.reason;
      const record = !redeemed.ok && 'record' in redeemed ? redeemed.record : undefined;
      await getCoordinator(c.env, record?.pool).recordAudit(ACTOR, 'runner.enroll', 'refused', {
        reason,
        address,
        ...(record && { runnerId: record.runnerId, name: record.name }),
      });
      const [message, fix] = REFUSALS[reason];
      throw new ScangateError(scanError('unauthorized', message, fix, { details: { reason } }));
    }
    const { record } = redeemed;
    const coordinator = getCoordinator(c.env, record.pool);
    const [runner, policy] = await Promise.all([coordinator.runner(record.runnerId), coordinator.getPolicy()]);
    if (!runner || runner.revokedAt !== null) {
      // Revoked between the code's check and now (the Directory revokes codes with the runner): no token lives.
      await getDirectory(c.env, record.runnerId.slice(3, 4)).revoke({ id: minted.id });
      await coordinator.recordAudit(ACTOR, 'runner.enroll', 'refused', {
        reason: 'revoked',
        address,
        runnerId: record.runnerId,
      });
      const [message, fix] = REFUSALS.revoked;
      throw new ScangateError(scanError('unauthorized', message, fix, { details: { reason: 'revoked' } }));
    }
    await coordinator.recordAudit(`runner ${record.name}`, 'runner.enroll', 'accepted', {
      runnerId: record.runnerId,
      tokenId: minted.id,
      address,
    });
    return c.json(
      {
        runner: { id: record.runnerId, name: record.name, pool: record.pool },
        networks: runner?.granted ?? policy.allowedNetworks,
        token: minted.token,
      },
      201,
    );
  })
  .post(
    '/v1/runners/:id/enrollment',
    requireRole('admin'),
    valid('query', z.object({ pool: PoolName.optional() })),
    async (c) => {
      const pool = poolFor(c.var.principal, c.req.valid('query').pool);
      const enrolled = unwrap(await enrollRunner(c.env, c.req.url, pool, c.req.param('id'), c.var.principal.name));
      return c.json(enrolled, 201);
    },
  )
  .get('/install/runner.sh', (c) => {
    c.header('content-type', 'text/x-shellscript; charset=utf-8');
    c.header('cache-control', 'no-cache');
    return c.body(runnerInstallScript(publicOrigin(c.env, c.req.url)));
  });
