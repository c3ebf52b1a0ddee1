import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { Hono } from 'hono';
import { scanError, type ScanError } from '../../../shared/errors/index.ts';
import type { AppEnv, Principal } from '../auth.ts';
import { protectMcp } from '../oauth/server.ts';
import type { Env } from '../../env.ts';
import { getCoordinator } from '../../objects/coordinator.do.ts';
import { buildMcpServer, toolNamesFor } from './scan.tools.ts';

/**
 * POST /mcp: Streamable HTTP, stateless (a new server and transport per request). Nothing session-bound is
 * kept: scans and MCP tasks live in the Coordinator, so any request can poll any of the caller's tasks, and
 * the endpoint scales like the rest of the Worker. GET (a standalone SSE stream) is refused: with no session
 * there is nothing to push on it.
 */
function jsonRpcError(
  status: number,
  code: number,
  message: string,
  headers: Record<string, string> = {},
  id: string | number | null = null,
): Response {
  return new Response(JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id }), {
    status,
    headers: { 'content-type': 'application/json', ...headers },
  });
}

/**
 * A `tools/call` request that names no tool this server has (an unknown name, or no name at all), or null. The SDK
 * would answer a missing name with -32603 and its own schema dump; both are invalid params, named as such.
 */
function unknownToolCall(body: unknown, names: readonly string[]): { id: string | number; name: string | null } | null {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return null;
  const { method, id, params } = body as { method?: unknown; id?: unknown; params?: { name?: unknown } };
  if (method !== 'tools/call' || (typeof id !== 'string' && typeof id !== 'number')) return null;
  const name = typeof params === 'object' && params !== null ? params.name : undefined;
  if (typeof name !== 'string') return { id, name: null };
  return names.includes(name) ? null : { id, name };
}

/** A refusal that is both a JSON-RPC error and the error taxonomy's shape (`error.type`, `message`, `recoverySuggestion`). */
function refusal(status: number, code: number, error: ScanError): Response {
  return new Response(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code, ...error } }), {
    status,
    headers: { 'content-type': 'application/json' },
  });
}

/**
 * The DNS-rebinding defence the MCP transport spec requires: a request that carries `Origin` must name a
 * configured origin (ALLOWED_ORIGINS, comma-separated, or PUBLIC_ORIGIN). It is never compared with the request's
 * own Host: a rebinding page on evil.example that resolves to this server sends Origin and Host both
 * evil.example. Requests without Origin (SDKs, CLIs: not a browser) pass.
 */
export function originAllowed(
  origin: string | undefined,
  env: Pick<Env, 'ALLOWED_ORIGINS' | 'PUBLIC_ORIGIN'>,
): boolean {
  if (origin === undefined) return true;
  const configured = [...(env.ALLOWED_ORIGINS ?? '').split(','), env.PUBLIC_ORIGIN ?? '']
    .map((o) => o.trim().replace(/\/+$/, '').toLowerCase())
    .filter(Boolean);
  return configured.includes(origin.toLowerCase());
}

export const mcpApi = new Hono<AppEnv>().on(['GET', 'POST', 'DELETE'], '/mcp', async (c) => {
  const origin = c.req.header('origin');
  if (!originAllowed(origin, c.env)) {
    return refusal(
      403,
      -32000,
      scanError(
        'forbidden',
        `Origin ${origin!.slice(0, 200)} is not allowed on /mcp`,
        'Call from a non-browser client (no Origin), or have the operator add this origin to ALLOWED_ORIGINS.',
        { details: { origin: origin!.slice(0, 200) } },
      ),
    );
  }
  // Auth (http/oauth/server.ts): our API tokens or an OAuth access token bound to this resource; the 401 names the
  // resource metadata so OAuth clients can discover the authorization server.
  return withTaxonomyBody(await protectMcp(c.req.raw, c.env, c.executionCtx, serveMcp));
});

/** The provider's 401/403 challenges have no body; ours carry the JSON-RPC error and the taxonomy's fields. */
function withTaxonomyBody(res: Response): Response {
  if ((res.status !== 401 && res.status !== 403) || res.body !== null) return res;
  const error =
    res.status === 401
      ? scanError(
          'unauthorized',
          'Missing or invalid bearer token',
          'Send Authorization: Bearer <scan token>, or sign in with OAuth (the WWW-Authenticate header names the resource metadata).',
        )
      : scanError('forbidden', 'This token may not use the MCP endpoint', 'Authorize the app for the scan scope.');
  const headers = new Headers(res.headers);
  headers.set('content-type', 'application/json');
  return new Response(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32001, ...error } }), {
    status: res.status,
    headers,
  });
}

/** /mcp for an authenticated caller (an API token's principal, or an OAuth client's). */
async function serveMcp(request: Request, env: Env, principal: Principal): Promise<Response> {
  if (principal.role === 'runner')
    return jsonRpcError(403, -32001, 'Runner tokens cannot use the MCP endpoint; use a scan token');
  if (request.method !== 'POST')
    return jsonRpcError(405, -32000, 'Method not allowed: this endpoint is stateless, use POST', { allow: 'POST' });

  let body: unknown;
  try {
    body = await request.json();
  } catch {
    return jsonRpcError(400, -32700, 'Parse error: the body must be one JSON-RPC message');
  }
  // MCP 2025-06-18 removed JSON-RPC batching (a POST carries one message); a batch would also turn one request
  // into many scan decisions past the per-request checks. Refused before anything in it runs.
  if (Array.isArray(body)) {
    return refusal(
      400,
      -32600,
      scanError(
        'validation_error',
        `Invalid Request: JSON-RPC batches (${body.length} messages) are not supported; MCP 2025-06-18 and later removed batching`,
        'Send one JSON-RPC message per POST.',
        { details: { batchSize: body.length } },
      ),
    );
  }
  // The SDK turns an unknown tool into an isError result; the spec calls it a protocol error, so answer it here.
  const unknownTool = unknownToolCall(body, toolNamesFor(principal));
  if (unknownTool)
    return jsonRpcError(
      200,
      -32602,
      unknownTool.name === null
        ? `Invalid params: tools/call needs params.name, one of: ${toolNamesFor(principal).join(', ')}`
        : `Unknown tool: ${unknownTool.name.slice(0, 100)}. Tools: ${toolNamesFor(principal).join(', ')}`,
      {},
      unknownTool.id,
    );

  const { server } = buildMcpServer(getCoordinator(env, principal.pool), principal);
  const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined });
  await server.connect(transport);
  return transport.handleRequest(request, { parsedBody: body });
}
