import { Hono } from 'hono';
import { scanError } from '../../../shared/errors/index.ts';
import { shardOfGrantId } from '../../domain/oauth.ts';
import { mayReach } from '../../domain/pools.ts';
import type { Principal } from '../../domain/principal.ts';
import { fail, ok, unwrap, type Result } from '../../domain/result.ts';
import { SHARDS } from '../../domain/tokens.ts';
import type { Env } from '../../env.ts';
import { getCoordinator } from '../../objects/coordinator.do.ts';
import { getDirectory } from '../../objects/directory.do.ts';
import type { GrantRecord } from '../../storage/grants.store.ts';
import { type AppEnv, requireRole } from '../auth.ts';
import { revokeProviderGrant } from './server.ts';

/**
 * OAuth grants, visible and revocable by admins of their pool (a global admin sees every pool), like tokens:
 * GET /v1/oauth/grants and DELETE /v1/oauth/grants/:id. Revoking marks the grant in the Directory (the next
 * request of its client fails the per-request check) and revokes it in the provider's storage (its access and
 * refresh tokens go too).
 */
export type GrantView = Omit<GrantRecord, 'createdAt' | 'lastUsedAt' | 'revokedAt' | 'approverRevoked'> & {
  status: 'active' | 'revoked' | 'approver_revoked';
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
};

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function grantView(g: GrantRecord): GrantView {
  const { approverRevoked: _, ...rest } = g;
  return {
    ...rest,
    status: g.revokedAt !== null ? 'revoked' : g.approverRevoked ? 'approver_revoked' : 'active',
    createdAt: iso(g.createdAt)!,
    lastUsedAt: iso(g.lastUsedAt),
    revokedAt: iso(g.revokedAt),
  };
}

/** Every grant `principal` may see, oldest first. */
export async function listGrants(env: Env, principal: Principal): Promise<GrantRecord[]> {
  const shards = Array.from({ length: SHARDS }, (_, i) => i.toString(16));
  return (await Promise.all(shards.map((s) => getDirectory(env, s).listGrants())))
    .flat()
    .filter((g) => mayReach(principal, g.pool))
    .sort((a, b) => a.createdAt - b.createdAt);
}

const notFound = (id: string) =>
  scanError('not_found', `No OAuth grant ${id.slice(0, 64)}`, 'List grants with GET /v1/oauth/grants.');

/** Revokes a grant `principal` may reach (another pool's is "not found": it may not learn that it exists). */
export async function revokeGrant(
  env: Env,
  requestUrl: string,
  principal: Principal,
  id: string,
  actor: string,
): Promise<Result<GrantRecord>> {
  const shard = shardOfGrantId(id);
  const found = shard ? (await getDirectory(env, shard).listGrants()).find((g) => g.id === id) : undefined;
  if (!found || !mayReach(principal, found.pool)) return fail(notFound(id));
  const revoked = await getDirectory(env, shard!).revokeGrant(id);
  if (!revoked) return fail(notFound(id));
  await revokeProviderGrant(env, requestUrl, id);
  await getCoordinator(env, found.pool).recordAudit(actor, 'oauth.grant.revoke', 'accepted', {
    grantId: id,
    clientId: found.clientId,
    approvedBy: found.tokenId,
  });
  return ok(revoked);
}

export const grantsApi = new Hono<AppEnv>()
  .get('/v1/oauth/grants', requireRole('admin'), async (c) => {
    return c.json({ grants: (await listGrants(c.env, c.var.principal)).map(grantView) });
  })
  .delete('/v1/oauth/grants/:id', requireRole('admin'), async (c) => {
    const principal = c.var.principal;
    const revoked = unwrap(await revokeGrant(c.env, c.req.url, principal, c.req.param('id'), principal.name));
    return c.json({ revoked: grantView(revoked) });
  });
