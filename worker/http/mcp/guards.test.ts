import { SELF } from 'cloudflare:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CfWorkerJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/cfworker';
import { describe, expect, it, onTestFinished } from 'vitest';
import { ADMIN, api, BASE, json, mintToken } from '../../test/helpers/runner-client.ts';
import { originAllowed } from './mcp.api.ts';

/**
 * The /mcp guards in front of the SDK: the Origin check against configured origins (vitest.config.ts sets
 * PUBLIC_ORIGIN https://scangate.test and ALLOWED_ORIGINS https://agent-console.test, http://localhost:6274) and
 * the refusal of JSON-RPC batches.
 */
const initialize = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
};

function post(url: string, token: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return SELF.fetch(url, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...headers,
    },
    body: JSON.stringify(body),
  });
}

describe('MCP Origin check (DNS rebinding)', () => {
  it('refuses a rebinding page whose Origin matches its own Host, with 403 in the taxonomy shape', async () => {
    const token = await mintToken('scan');
    // evil.example resolves to this server: the browser sends Origin and Host both evil.example.
    for (const [url, origin] of [
      ['http://evil.example/mcp', 'http://evil.example'],
      ['http://evil.example:8787/mcp', 'http://evil.example:8787'],
      [`${BASE}/mcp`, 'https://scangate.test.evil.example'],
      [`${BASE}/mcp`, 'null'],
    ] as const) {
      const res = await post(url, token, initialize, { origin });
      expect(res.status, origin).toBe(403);
      const body = await json(res);
      expect(body.error).toMatchObject({
        code: -32000,
        type: 'forbidden',
        message: expect.stringContaining(origin),
        recoverySuggestion: expect.stringContaining('ALLOWED_ORIGINS'),
      });
      expect(body).toMatchObject({ jsonrpc: '2.0', id: null });
    }
  });

  it('lets configured origins and clients without Origin through', async () => {
    const token = await mintToken('scan');
    for (const origin of ['https://agent-console.test', 'http://localhost:6274', 'https://scangate.test']) {
      expect((await post('http://evil.example/mcp', token, initialize, { origin })).status, origin).toBe(200);
    }
    expect((await post(`${BASE}/mcp`, token, initialize)).status).toBe(200);
  });
});

describe('the Origin rule', () => {
  it('matches configured origins exactly (case and a trailing slash aside), and nothing when none is configured', () => {
    const env = {
      ALLOWED_ORIGINS: ' https://A.example/ ,http://localhost:6274',
      PUBLIC_ORIGIN: 'https://scangate.example.org/',
    };
    for (const origin of ['https://a.example', 'http://localhost:6274', 'https://scangate.example.org', undefined])
      expect(originAllowed(origin, env), origin).toBe(true);
    for (const origin of [
      'http://a.example',
      'https://a.example:8443',
      'https://b.example',
      'http://localhost:6275',
      'null',
      '',
    ])
      expect(originAllowed(origin, env), origin).toBe(false);
    expect(originAllowed('https://scangate.example.org', {})).toBe(false);
    expect(originAllowed(undefined, {})).toBe(true);
  });
});

describe('MCP JSON-RPC batches', () => {
  it('refuses a batch before any call in it runs, so N calls cannot ride on one request', async () => {
    const name = `batcher-${crypto.randomUUID().slice(0, 8)}`;
    const token = await mintToken('scan', name);
    const N = 30;
    const batch = Array.from({ length: N }, (_, i) => ({
      jsonrpc: '2.0',
      id: i + 1,
      method: 'tools/call',
      params: { name: 'nmap_scan', arguments: { target: '8.8.8.8' } },
    }));
    const res = await post(`${BASE}/mcp`, token, batch);
    expect(res.status).toBe(400);
    const body = await json(res);
    expect(body).toMatchObject({
      jsonrpc: '2.0',
      id: null,
      error: {
        code: -32600,
        type: 'validation_error',
        details: { batchSize: N },
        message: expect.stringMatching(/batch/),
        recoverySuggestion: expect.stringMatching(/one JSON-RPC message per POST/),
      },
    });
    // Nothing in the batch ran: no scan decision for this token.
    const audit = async () =>
      (await json(await api(`/v1/audit?kind=scan&actor=${name}`, { token: ADMIN }))).entries as Array<{
        count: number;
      }>;
    expect(await audit()).toEqual([]);

    // The same call sent alone runs (and is refused by policy, counted once).
    const transport = new StreamableHTTPClientTransport(new URL(`${BASE}/mcp`), {
      fetch: (u, i) => SELF.fetch(u, i),
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    });
    const client = new Client(
      { name: 'batch-test', version: '1.0.0' },
      { jsonSchemaValidator: new CfWorkerJsonSchemaValidator() },
    );
    await client.connect(transport);
    onTestFinished(() => client.close());
    const single = await client.callTool({ name: 'nmap_scan', arguments: { target: '8.8.8.8' } });
    expect(single.isError).toBe(true);
    expect((await audit()).reduce((sum, e) => sum + e.count, 0)).toBe(1);
  });
});

describe('tools/call that names no tool', () => {
  it('answers invalid params (-32602) naming the tools, whether the name is missing, not a string or unknown', async () => {
    const token = await mintToken('scan', 'no-name-caller');
    for (const [params, says] of [
      [{ arguments: {} }, 'tools/call needs params.name'],
      [{ name: 42 }, 'tools/call needs params.name'],
      [undefined, 'tools/call needs params.name'],
      [{ name: 'rm_rf', arguments: {} }, 'Unknown tool: rm_rf'],
    ] as const) {
      const res = await post(`${BASE}/mcp`, token, { jsonrpc: '2.0', id: 7, method: 'tools/call', params });
      const body = await json<{ id: number; error: { code: number; message: string } }>(res);
      expect(body.id).toBe(7);
      expect(body.error.code, JSON.stringify(params)).toBe(-32602);
      expect(body.error.message).toContain(says);
      expect(body.error.message).toContain('nmap_scan, wait_for_scan');
      expect(body.error.message).not.toContain('list_schedules'); // admin-only tools are not named to a scan token
    }
  });
});
