import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { Hono } from 'hono';
import { authenticate, type AppEnv } from '../auth.ts';
import { getCoordinator } from '../coordinator.do.ts';
import { buildMcpServer, TOOL_NAMES } from './scan.tools.ts';

/**
 * POST /mcp: Streamable HTTP, stateless (a new server and transport per request). Nothing session-bound is
 * kept: scans and MCP tasks live in the Coordinator, so any request can poll any of the caller's tasks, and
 * the endpoint scales like the rest of the Worker. GET (a standalone SSE stream) is refused: with no session
 * there is nothing to push on it.
 */
function jsonRpcError(status: number, code: number, message: string, headers: Record<string, string> = {}, id: string | number | null = null): Response {
  return new Response(JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id }), { status, headers: { 'content-type': 'application/json', ...headers } });
}

/** A `tools/call` request naming a tool this server does not have, or null. */
function unknownToolCall(body: unknown): { id: string | number; name: string } | null {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return null;
  const { method, id, params } = body as { method?: unknown; id?: unknown; params?: { name?: unknown } };
  if (method !== 'tools/call' || (typeof id !== 'string' && typeof id !== 'number')) return null;
  const name = params?.name;
  return typeof name === 'string' && !(TOOL_NAMES as readonly string[]).includes(name) ? { id, name } : null;
}

/** Origins allowed besides the endpoint's own (comma-separated ALLOWED_ORIGINS); requests without Origin pass. */
function originAllowed(origin: string | undefined, url: string, allowed: string | undefined): boolean {
  if (!origin) return true;
  if (origin === new URL(url).origin) return true;
  return (allowed ?? '').split(',').map((o) => o.trim()).filter(Boolean).includes(origin);
}

export const mcpApi = new Hono<AppEnv>().on(['GET', 'POST', 'DELETE'], '/mcp', async (c) => {
  // DNS-rebinding defence the MCP spec requires: a browser page on another origin may not drive this endpoint.
  if (!originAllowed(c.req.header('origin'), c.req.url, c.env.ALLOWED_ORIGINS)) {
    return jsonRpcError(403, -32000, `Origin ${c.req.header('origin')} is not allowed`);
  }
  const principal = await authenticate(c.req.header('authorization'), c.env);
  if (!principal) {
    return jsonRpcError(401, -32001, 'Missing or invalid bearer token: send Authorization: Bearer <scan token>', {
      'www-authenticate': 'Bearer realm="scangate", error="invalid_token", error_description="a scan or admin token is required"',
    });
  }
  if (principal.role === 'runner') return jsonRpcError(403, -32001, 'Runner tokens cannot use the MCP endpoint; use a scan token');
  if (c.req.method !== 'POST') return jsonRpcError(405, -32000, 'Method not allowed: this endpoint is stateless, use POST', { allow: 'POST' });

  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
    return jsonRpcError(400, -32700, 'Parse error: the body must be one JSON-RPC message');
  }
  // The SDK turns an unknown tool into an isError result; the spec calls it a protocol error, so answer it here.
  const unknownTool = unknownToolCall(body);
  if (unknownTool) return jsonRpcError(200, -32602, `Unknown tool: ${unknownTool.name}. Tools: ${TOOL_NAMES.join(', ')}`, {}, unknownTool.id);

  const { server } = buildMcpServer(getCoordinator(c.env, principal.pool), principal);
  const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined });
  await server.connect(transport);
  return transport.handleRequest(c.req.raw, { parsedBody: body });
});
