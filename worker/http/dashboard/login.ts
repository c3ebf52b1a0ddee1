import { ScangateError, scanError } from '../../../shared/errors/index.ts';
import type { Principal } from '../auth.ts';
import { getCoordinator } from '../../objects/coordinator.do.ts';
import { getDirectory } from '../../objects/directory.do.ts';
import type { Env } from '../../env.ts';
import { hashToken } from '../../domain/tokens.ts';
import { bucketsOf, LOGIN_FAILURE_LIMIT, LOGIN_WINDOW_MS, retryAfterSec } from '../../domain/login-throttle.ts';

/**
 * A dashboard login attempt, throttled (login-throttle.ts) and audited as security events: `login.success` in the
 * admin's pool; `login.failure` and `login.throttled` (refusals, so aggregated per minute) in the pool of the
 * token tried, or `default` when the token is unknown. Throttle state lives in the Directory shard named by the
 * first digit of each bucket's hash, so no single object sees every login.
 */
export interface LoginAttempt {
  failed(principal: Principal | undefined): Promise<void>;
  succeeded(principal: Principal): Promise<void>;
}

const ACTOR = 'dashboard login';

async function bucketHashes(address: string, token: string): Promise<Array<{ kind: string; hash: string }>> {
  return Promise.all(
    bucketsOf(address, token).map(async (key) => ({
      kind: key.slice(0, key.indexOf(':')),
      hash: await hashToken(key),
    })),
  );
}

/** Throws 429 (`rate_limited`, Retry-After) when the address or the token prefix has too many recent failures. */
export async function beginLogin(
  env: Env,
  address: string,
  token: string,
  /** Where the sign-in happens: the dashboard, or the OAuth consent page (shared throttle, told apart in the audit). */
  surface: 'dashboard' | 'oauth-consent' = 'dashboard',
): Promise<LoginAttempt> {
  const buckets = await bucketHashes(address, token);
  const now = Date.now();
  const waits = await Promise.all(
    buckets.map(async (b) => ({
      kind: b.kind,
      wait: retryAfterSec(await getDirectory(env, b.hash[0]!).loginFailures(b.hash), now),
    })),
  );
  const closed = waits.filter((w): w is { kind: string; wait: number } => w.wait !== null);
  // Kind and shard only (`sgt_3`): enough to tell what was tried, nothing of a near-miss of a real secret.
  const tokenPrefix = token.slice(0, 5);
  if (closed.length > 0) {
    const wait = Math.max(...closed.map((w) => w.wait));
    const by = closed.map((w) => (w.kind === 'address' ? 'this address' : 'this token prefix')).join(' and ');
    await getCoordinator(env).recordAudit(ACTOR, 'login.throttled', 'refused', {
      reason: closed.map((w) => w.kind).join('+'),
      surface,
      address,
      tokenPrefix,
      retryAfterSec: wait,
    });
    throw new ScangateError(
      scanError(
        'rate_limited',
        `Too many failed dashboard logins from ${by}: ${LOGIN_FAILURE_LIMIT} in ${LOGIN_WINDOW_MS / 60_000} minutes`,
        `Wait ${wait} s, then log in with a valid admin token.`,
        { retryAfterSec: wait },
      ),
    );
  }
  return {
    async failed(principal) {
      await Promise.all(buckets.map((b) => getDirectory(env, b.hash[0]!).loginFailed(b.hash)));
      const known = principal && { tokenId: principal.tokenId, role: principal.role };
      await getCoordinator(env, principal?.pool).recordAudit(principal?.name ?? ACTOR, 'login.failure', 'refused', {
        reason: known ? (surface === 'dashboard' ? 'not_admin' : 'not_api_token') : 'invalid_token',
        surface,
        address,
        tokenPrefix,
        ...known,
      });
    },
    async succeeded(principal) {
      await getCoordinator(env, principal.pool).recordAudit(principal.name, 'login.success', 'accepted', {
        tokenId: principal.tokenId,
        surface,
        address,
      });
    },
  };
}
