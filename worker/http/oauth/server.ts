import {
  OAuthAuthorizationServer,
  OAuthError,
  OAuthResourceServer,
  type OAuthHelpers,
  type OAuthResourceContext,
  type OAuthResourceTokenValidation,
} from '@cloudflare/workers-oauth-provider';
import { Hono, type Context } from 'hono';
import { BASELINE_SCOPE, grantPrincipal, OAUTH_SCOPES, shardOfGrantId } from '../../domain/oauth.ts';
import type { Principal } from '../../domain/principal.ts';
import { parseToken, secretsEqual } from '../../domain/tokens.ts';
import type { Env } from '../../env.ts';
import { getDirectory } from '../../objects/directory.do.ts';
import { type AppEnv, authenticate } from '../auth.ts';

/**
 * OAuth 2.1 for /mcp with @cloudflare/workers-oauth-provider: this Worker is both the authorization server (issuer
 * = its public origin) and the one protected resource (`<origin>/mcp`). The provider serves discovery (RFC 8414,
 * RFC 9728), the token endpoint (code + PKCE S256, refresh, RFC 7009 revocation), DCR and CIMD; /authorize is
 * ours (consent.api.tsx); /mcp goes through the resource server, whose validator accepts our own API tokens by
 * their shape and every other token only through the authorization server plus the grant check in the Directory.
 *
 * The public origin is PUBLIC_ORIGIN when set (requests that reached another host are treated as if they came to
 * it), else the request's own origin (wrangler dev: http on loopback, which the provider accepts).
 */
export const ACCESS_TOKEN_TTL_SEC = 3600;
export const REFRESH_TOKEN_TTL_SEC = 30 * 86400;

/** What the provider stores (encrypted) with a grant: only our grant id; the Directory holds the rest. */
export interface OAuthProps {
  grantId: string;
}

/** The public origin: PUBLIC_ORIGIN (normalised) when set and a URL, else the request's own. */
export function publicOrigin(env: Pick<Env, 'PUBLIC_ORIGIN'>, requestUrl: string): string {
  const configured = env.PUBLIC_ORIGIN?.trim() ? URL.parse(env.PUBLIC_ORIGIN.trim()) : null;
  return (configured ?? new URL(requestUrl)).origin.toLowerCase();
}

/** The request as if it arrived at the public origin (the provider compares endpoint URLs exactly). */
export function atPublicOrigin(request: Request, origin: string): Request {
  const url = new URL(request.url);
  if (url.origin === origin) return request;
  return new Request(`${origin}${url.pathname}${url.search}`, request);
}

/** Hono's view of the execution context (a subset of workers-types'); the provider reads only these two. */
type HonoExecutionContext = Context<AppEnv>['executionCtx'];

type McpServe = (request: Request, env: Env, principal: Principal) => Promise<Response>;
type McpContext = OAuthResourceContext<Principal> & { serve: McpServe };

interface OAuthRoles {
  authorizationServer: OAuthAuthorizationServer<Env>;
  mcpResource: OAuthResourceServer<Env, Principal>;
}

/** Our own bearer tokens (sgt_/sgr_ and the bootstrap secret): validated here, never sent to the provider. */
async function isApiToken(token: string, env: Env): Promise<boolean> {
  if (parseToken(token)) return true;
  return env.ADMIN_TOKEN !== undefined && env.ADMIN_TOKEN !== '' && (await secretsEqual(token, env.ADMIN_TOKEN));
}

async function validateMcpToken(
  authorizationServer: OAuthAuthorizationServer<Env>,
  env: Env,
  resource: string,
  token: string,
): Promise<OAuthResourceTokenValidation<Principal> | null> {
  if (await isApiToken(token, env)) {
    const principal = await authenticate(`Bearer ${token}`, env);
    return principal ? { props: principal, audience: resource } : null;
  }
  const validated = await authorizationServer.validateToken<Partial<OAuthProps>>(resource, token, env);
  const grantId = validated?.props?.grantId;
  const shard = grantId ? shardOfGrantId(grantId) : undefined;
  if (!validated || !grantId || !shard) return null;
  // Every request, not only at refresh: a revoked grant or approving token stops the client here.
  const grant = await getDirectory(env, shard).checkGrant(grantId);
  if (!grant) return null;
  const principal = grantPrincipal(grant, validated.scope);
  if (!principal)
    throw new OAuthError('insufficient_scope', {
      description: 'This token carries no scope that opens the MCP endpoint',
      requiredScopes: [BASELINE_SCOPE],
    });
  return {
    props: principal,
    audience: validated.audience,
    expiresAt: validated.expiresAt,
    scope: validated.scope,
    userId: validated.userId,
    clientId: validated.clientId,
  };
}

function buildRoles(origin: string): OAuthRoles {
  const authorizationServer = new OAuthAuthorizationServer<Env>({
    issuer: origin,
    resources: [`${origin}/mcp`],
    scopesSupported: [...OAUTH_SCOPES],
    clientRegistrationEndpoint: '/oauth/register',
    clientIdMetadataDocumentEnabled: true,
    accessTokenTTL: ACCESS_TOKEN_TTL_SEC,
    refreshTokenTTL: REFRESH_TOKEN_TTL_SEC,
  });
  const mcpResource = new OAuthResourceServer<Env, Principal>({
    resourceMetadata: {
      resource: `${origin}/mcp`,
      authorization_servers: [origin],
      resource_name: 'scangate (nmap for lab networks)',
    },
    requiredScopes: [BASELINE_SCOPE],
    validateToken: (env) => (resource, token) => validateMcpToken(authorizationServer, env, resource, token),
    handler: { fetch: (request, env, ctx) => (ctx as McpContext).serve(request, env, ctx.props) },
  });
  return { authorizationServer, mcpResource };
}

/** One pair per origin (one in production; the map is bounded for wrangler dev reached under several names). */
const rolesByOrigin = new Map<string, OAuthRoles>();
function rolesFor(origin: string): OAuthRoles {
  let roles = rolesByOrigin.get(origin);
  if (!roles) {
    if (rolesByOrigin.size >= 8) rolesByOrigin.clear();
    roles = buildRoles(origin);
    rolesByOrigin.set(origin, roles);
  }
  return roles;
}

/** The provider's helpers (parse/complete authorization, consent, grants) for this request's public origin. */
export function oauthHelpers(env: Env, requestUrl: string): OAuthHelpers {
  return rolesFor(publicOrigin(env, requestUrl)).authorizationServer.getOAuthApi(env);
}

/**
 * /mcp through the resource server: no or a bad token gets 401 with `WWW-Authenticate: Bearer
 * resource_metadata=…`; a valid one reaches `serve` with the Principal it stands for.
 */
export function protectMcp(request: Request, env: Env, ctx: HonoExecutionContext, serve: McpServe): Promise<Response> {
  const origin = publicOrigin(env, request.url);
  const context = {
    waitUntil: (p: Promise<unknown>) => ctx.waitUntil(p),
    passThroughOnException: () => ctx.passThroughOnException(),
    props: {},
    serve,
  } as unknown as McpContext;
  return rolesFor(origin).mcpResource.fetch(atPublicOrigin(request, origin), env, context);
}

/** Revokes every provider grant stored under our grant id (its tokens stop at once). */
export async function revokeProviderGrant(env: Env, requestUrl: string, grantId: string): Promise<void> {
  const oauth = oauthHelpers(env, requestUrl);
  let cursor: string | undefined;
  do {
    const page = await oauth.listUserGrants(grantId, cursor ? { cursor } : {});
    await Promise.all(page.items.map((g) => oauth.revokeGrant(g.id, grantId)));
    cursor = page.cursor;
  } while (cursor);
}

/** Provider-owned endpoints: discovery, token (and revocation), registration. */
export const oauthApi = new Hono<AppEnv>()
  .all('/.well-known/oauth-authorization-server/*', asFetch)
  .all('/.well-known/oauth-authorization-server', asFetch)
  .all('/.well-known/oauth-protected-resource/*', rsFetch)
  .all('/.well-known/oauth-protected-resource', rsFetch)
  .all('/oauth/token', asFetch)
  .all('/oauth/register', asFetch);

function asFetch(c: Context<AppEnv>): Promise<Response> {
  const origin = publicOrigin(c.env, c.req.raw.url);
  return rolesFor(origin).authorizationServer.fetch(
    atPublicOrigin(c.req.raw, origin),
    c.env,
    c.executionCtx as ExecutionContext,
  );
}

function rsFetch(c: Context<AppEnv>): Promise<Response> {
  const origin = publicOrigin(c.env, c.req.raw.url);
  return rolesFor(origin).mcpResource.fetch(
    atPublicOrigin(c.req.raw, origin),
    c.env,
    c.executionCtx as ExecutionContext,
  );
}
