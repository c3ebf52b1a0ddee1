import { z } from 'zod';
import { ScangateError, scanError } from '../../shared/errors/index.ts';
import type { Principal } from './principal.ts';

/**
 * Pools and who may act on them. Every token belongs to one pool; an admin token acts on its own pool only, so an
 * admin minted for pool `other` cannot change `default`'s policy, read its audit or mint tokens there. A global
 * admin exists by name: the bootstrap ADMIN_TOKEN, and admin tokens minted with pool `*` (only by a global admin).
 */
export const GLOBAL_POOL = '*';
export const DEFAULT_POOL = 'default';
export const PoolName = z.string().regex(/^[a-z0-9-]{1,32}$/, 'lower-case letters, digits and hyphens, at most 32');

/** The pool an admin request acts on: the one it names, else the caller's own. Throws `forbidden` across pools. */
export function poolFor(principal: Principal, requested: string | undefined): string {
  const pool = requested ?? principal.pool;
  if (principal.global || pool === principal.pool) return pool;
  throw new ScangateError(
    scanError(
      'forbidden',
      `This admin token is scoped to pool ${principal.pool}; it cannot act on pool ${pool}`,
      `Use an admin token of pool ${pool}, or a global admin token.`,
      {
        details: { pool, tokenPool: principal.pool },
      },
    ),
  );
}

/** Whether `principal` may see or change what belongs to `pool` (a global token's pool is `*`). */
export function mayReach(principal: Principal, pool: string): boolean {
  return principal.global === true || (pool !== GLOBAL_POOL && pool === principal.pool);
}
