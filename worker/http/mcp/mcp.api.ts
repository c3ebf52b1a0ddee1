import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { Hono } from 'hono';
import { scanError, type ScanError } from '../../../shared/errors/index.ts';
import { authenticate, type AppEnv } from '../auth.ts';
import type { Env } from '../../env.ts';
import { getCoordinator } from '../../objects/coordinator.do.ts';
import { buildMcpServer, TOOL_NAMES } from './scan.tools.ts';

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

/** A `tools/call` request naming a tool this server does not have, or null. */
function unknownToolCall(body: unknown): { id: string | number; name: string } | null {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return null;
  const { method, id, params } = body as { method?: unknown; id?: unknown; params?: { name?: unknown } };
  if (method !== 'tools/call' || (typeof id !== 'string' && typeof id !== 'number')) return null;
  const name = params?.name;
  return typeof name === 'string' && !(TOOL_NAMES as readonly string[]).includes(name) ? { id, name } : null;
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
  const principal = await authenticate(c.req.header('authorization'), c.env);
  if (!principal) {
    return jsonRpcError(401, -32001, 'Missing or invalid bearer token: send Authorization: Bearer <scan token>', {
      'www-authenticate':
        'Bearer realm="scangate", error="invalid_token", error_description="a scan or admin token is required"',
    });
  }
  if (principal.role === 'runner')
    return jsonRpcError(403, -32001, 'Runner tokens cannot use the MCP endpoint; use a scan token');
  if (c.req.method !== 'POST')
    return jsonRpcError(405, -32000, 'Method not allowed: this endpoint is stateless, use POST', { allow: 'POST' });

  let body: unknown;
  try {
    body = await c.req.json();
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
  const unknownTool = unknownToolCall(body);
  if (unknownTool)
    return jsonRpcError(
      200,
      -32602,
      `Unknown tool: ${unknownTool.name}. Tools: ${TOOL_NAMES.join(', ')}`,
      {},
      unknownTool.id,
    );

  const { server } = buildMcpServer(getCoordinator(c.env, principal.pool), principal);
  const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined });
  await server.connect(transport);
  return transport.handleRequest(c.req.raw, { parsedBody: body });
});
