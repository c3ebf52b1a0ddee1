import type { Principal } from './principal.ts';
import { randomToken, type Role } from './tokens.ts';

/**
 * OAuth on /mcp: which scopes exist, what a consent may grant, and what a granted scope lets a client do. Pure.
 *
 *   scan   the MCP tools on the client's own scans (a scan-role principal)
 *   admin  as an admin token of the approving token's pool (implies scan)
 *
 * An OAuth client is its grant: it acts as `ogr_<shard>…` (its own scans, its own quota), in the pool of the
 * token that approved it. The grant lives in that token's Directory shard, so one call checks both.
 */
export const OAUTH_SCOPES = ['scan', 'admin'] as const;
export type OAuthScope = (typeof OAUTH_SCOPES)[number];
/** What a client gets when it names no scope we know: the baseline, published as the resource's required scope. */
export const BASELINE_SCOPE: OAuthScope = 'scan';

export type ConsentDecision =
  | { ok: true; granted: OAuthScope[]; ignored: string[] }
  | { ok: false; reason: string; ignored: string[] };

const isOAuthScope = (s: string): s is OAuthScope => (OAUTH_SCOPES as readonly string[]).includes(s);

/**
 * What approving `requested` as `role` grants. A scope the approver's token does not have is refused, never
 * silently narrowed: a client asking for `admin` must be approved by an admin. Unknown scopes are ignored (and
 * shown as such on the page); no known scope means the baseline.
 */
export function consentDecision(requested: readonly string[], role: Role): ConsentDecision {
  const known = [...new Set(requested.filter(isOAuthScope))];
  const ignored = [...new Set(requested.filter((s) => !isOAuthScope(s)))];
  if (role === 'runner')
    return { ok: false, reason: 'Runner tokens cannot approve apps; sign in with a scan or admin token.', ignored };
  if (known.includes('admin') && role !== 'admin')
    return {
      ok: false,
      reason: 'This app asks for admin access, and you signed in with a scan token. Only an admin can approve it.',
      ignored,
    };
  const granted: OAuthScope[] = known.includes('admin') ? ['scan', 'admin'] : [BASELINE_SCOPE];
  return { ok: true, granted, ignored };
}

/** The role a request with an OAuth token acts with: the scopes both the grant and the token carry. */
export function roleOfScopes(grantScopes: readonly string[], tokenScopes: readonly string[]): 'scan' | 'admin' | null {
  const both = (s: OAuthScope) => grantScopes.includes(s) && tokenScopes.includes(s);
  if (both('admin')) return 'admin';
  if (both('scan') || (grantScopes.includes('admin') && tokenScopes.includes('scan'))) return 'scan';
  return null;
}

/** A grant id (`ogr_<shard><16>`), in the approving token's Directory shard; and its parser. */
export function mintGrantId(shard: string): string {
  return `ogr_${shard}${randomToken(12)}`;
}

export function shardOfGrantId(id: string): string | undefined {
  return /^ogr_([0-9a-f])[A-Za-z0-9_-]{16}$/.exec(id)?.[1];
}

/** A live grant as the Directory reports it on each request. */
export interface GrantCheck {
  grantId: string;
  clientId: string;
  clientName: string;
  scopes: string[];
  pool: string;
  approvedBy: string;
}

/** The principal an OAuth client acts as, or null when its token carries no scope that opens /mcp. */
export function grantPrincipal(grant: GrantCheck, tokenScopes: readonly string[]): Principal | null {
  const role = roleOfScopes(grant.scopes, tokenScopes);
  if (!role) return null;
  return {
    tokenId: grant.grantId,
    name: `${grant.clientName} (OAuth, approved by ${grant.approvedBy})`.slice(0, 200),
    role,
    pool: grant.pool,
  };
}
