import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useStack } from '../helpers/e2e.ts';
import { INSPECTOR, inspector as runInspector } from '../helpers/inspector.ts';

/**
 * The official MCP clients against the real stack (wrangler dev, a real runner, real nmap on loopback): the v1
 * SDK client with its default AJV validator, which checks every structuredContent against the tool's
 * outputSchema once tools/list has been read, and the pinned MCP Inspector 2.12.0 in CLI mode (a
 * devDependency, so it runs offline). Success and error paths of every tool, worded for MCP.
 */
const stack = useStack();
let token = '';
let client: Client;
const listeners: Server[] = [];
/** Loopback addresses with a listener this test opened, and its port (one port for all of them). */
const OPEN_ON = ['127.0.0.2', '127.0.0.3', '127.0.0.4'];
let port = 0;

const REST_WORDING = /\b(?:GET|POST|PUT|PATCH|DELETE) \/|\/v1\/|\bcurl\b/;
const textOf = (result: unknown) =>
  ((result as CallToolResult).content as Array<{ text: string }>).map((c) => c.text).join('\n');

async function listen(host: string, wanted: number): Promise<number> {
  // nmap's connect scan resets the connection: the reset is expected, not an error of this test.
  const server = createServer((socket) => socket.on('error', () => {}).end());
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(wanted, host, resolve));
  listeners.push(server);
  return (server.address() as { port: number }).port;
}

beforeAll(async () => {
  await stack.readyRunner('mcp-clients');
  token = await stack.mintToken('scan', 'mcp-clients-agent');
  port = await listen(OPEN_ON[0]!, 0);
  for (const host of OPEN_ON.slice(1)) await listen(host, port);
  client = new Client({ name: 'mcp-clients-e2e', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${stack.url}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    }),
  );
  await client.listTools(); // from here on, callTool validates structuredContent against each outputSchema
}, 90_000);

afterAll(async () => {
  await client?.close();
  await Promise.all(listeners.map((s) => new Promise((resolve) => s.close(resolve))));
});

// Generous per-test limits: each test waits on results, never on a clock, and must pass with both cores busy.
describe('the v1 SDK client against real nmap', { timeout: 180_000 }, () => {
  it('a discovery scan names the hosts up in its text', async () => {
    const addresses = Array.from({ length: 12 }, (_, i) => `127.0.0.${i + 1}`);
    const result = await client.callTool(
      { name: 'nmap_scan', arguments: { target: addresses, template: 'discovery' } },
      undefined,
      { timeout: 120_000 },
    );
    const text = textOf(result);
    expect(result.isError, text).toBeFalsy();
    const named = addresses.join(', ');
    expect(text).toContain(`12 of 12 hosts up: ${named}; 0 open ports.`);
    expect(result.structuredContent).toMatchObject({ status: 'succeeded', hostsUp: 12, hostsTotal: 12, openPorts: [] });
    expect((result.structuredContent as { hosts: Array<{ address: string }> }).hosts.map((h) => h.address)).toEqual(
      named.split(', '),
    );
  });

  it('a /24 is bounded: the text names 20 hosts and counts the rest, structuredContent pages through them', async () => {
    const result = await client.callTool(
      { name: 'nmap_scan', arguments: { target: '127.0.1.0/24', template: 'discovery' } },
      undefined,
      { timeout: 120_000 },
    );
    const text = textOf(result);
    expect(result.isError, text).toBeFalsy();
    expect(text).toMatch(
      /256 of 256 hosts up: 127\.0\.1\.0, 127\.0\.1\.1, (?:127\.0\.1\.\d+, ){18}and 236 more; 0 open ports\./,
    );
    expect(text.length).toBeLessThan(2000);
    const first = result.structuredContent as {
      scanId: string;
      hosts: Array<{ address: string }>;
      more: { hosts: number; nextOffset: number };
    };
    expect(first.hosts).toHaveLength(50);
    expect(first.more).toEqual({ hosts: 206, openPorts: 0, nextOffset: 50 });
    expect(JSON.stringify(first).length).toBeLessThan(6000);
    const seen = first.hosts.map((h) => h.address);
    let offset: number | undefined = first.more.nextOffset;
    while (offset !== undefined) {
      const page = await client.callTool({ name: 'get_scan', arguments: { scanId: first.scanId, offset } });
      const structured = page.structuredContent as {
        hosts: Array<{ address: string }>;
        more?: { nextOffset?: number };
      };
      seen.push(...structured.hosts.map((h) => h.address));
      offset = structured.more?.nextOffset;
    }
    expect(new Set(seen).size).toBe(256);
    expect(seen).toContain('127.0.1.255');
  });

  it('a connect scan of several loopback addresses lists each open port by host', async () => {
    const result = await client.callTool(
      { name: 'nmap_scan', arguments: { target: [...OPEN_ON, '127.0.0.5'], args: `-sT -p ${port}` } },
      undefined,
      { timeout: 120_000 },
    );
    const text = textOf(result);
    expect(result.isError, text).toBeFalsy();
    for (const host of OPEN_ON) expect(text).toContain(`- ${host} ${port}/tcp`);
    expect(text).not.toContain(`- 127.0.0.5 ${port}/tcp`);
    const ports = (result.structuredContent as { openPorts: Array<{ host: string; port: number }> }).openPorts;
    expect(ports.map((p) => p.host).sort()).toEqual(OPEN_ON);
  });

  it('refusals of every kind are error results the client accepts, worded for MCP', async () => {
    const calls: Array<[string, Record<string, unknown>, string]> = [
      ['nmap_scan', { target: '127.0.0.1', args: '-oN /tmp/x' }, 'validation_error'],
      ['nmap_scan', { target: '127.0.0.1', args: '-sT -A' }, 'validation_error'],
      ['nmap_scan', { target: '10.9.0.1', args: '-sT -p 22' }, 'no_runner'],
      ['validate_scan', { target: '127.0.0.1', args: '--script http-titel' }, 'validation_error'],
      ['get_scan', { scanId: 'scan_missing' }, 'not_found'],
      ['cancel_scan', { scanId: 'scan_missing' }, 'not_found'],
    ];
    for (const [name, args, type] of calls) {
      const result = await client.callTool({ name, arguments: args });
      const text = textOf(result);
      expect(result.isError, `${name} ${text}`).toBe(true);
      expect(result.structuredContent).toBeUndefined();
      expect(text).toMatch(new RegExp(`^${type}: .*\\nWhat to do: \\S`, 's'));
      expect(text, name).not.toMatch(REST_WORDING);
    }
    const listed = await client.callTool({ name: 'list_scans', arguments: { limit: 1 } });
    const [last] = (listed.structuredContent as { scans: Array<{ scanId: string }> }).scans;
    const conflict = await client.callTool({ name: 'cancel_scan', arguments: { scanId: last!.scanId } });
    expect(textOf(conflict)).toMatch(/^conflict: /);
  });
});

/** The Inspector's CLI (pinned devDependency) as a user runs it: exit code, stdout and stderr. */
const inspector = (...args: string[]) => runInspector(stack.url, token, stack.dir, ...args);

describe('the MCP Inspector 2.12.0 (CLI mode)', { timeout: 180_000 }, () => {
  beforeAll(() => {
    if (!existsSync(INSPECTOR))
      throw new Error(`${INSPECTOR} is missing: run npm install (the Inspector is a pinned devDependency)`);
  });

  it('lists the tools with no schema portability finding (--strict)', async () => {
    const run = await inspector('--method', 'tools/list', '--strict');
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).not.toMatch(/Warning|Error|portability/i);
    const listed = JSON.parse(run.stdout) as { tools: Array<{ name: string }> };
    expect(listed.tools.map((t) => t.name)).toContain('list_scans');
    expect(JSON.stringify(listed).length).toBeLessThan(8000);
  });

  it('shows our message and fix for error results, not a schema error', async () => {
    const cases: Array<[string[], RegExp]> = [
      [
        ['--tool-name', 'validate_scan', '--tool-arg', 'target=10.0.0.0/21'],
        /^validation_error: .*2048 addresses.*\nWhat to do: /s,
      ],
      [
        ['--tool-name', 'nmap_scan', '--tool-arg', 'target=127.0.0.1', 'args=-sT -A'],
        /^validation_error: .*\nWhat to do: .*scanner_info/s,
      ],
      [
        ['--tool-name', 'get_scan', '--tool-arg', 'scanId=scan_missing'],
        /^not_found: No scan scan_missing\nWhat to do: List your scans with the list_scans tool\./,
      ],
    ];
    for (const [args, expected] of cases) {
      const run = await inspector('--method', 'tools/call', ...args);
      expect(run.code, `${args.join(' ')}\n${run.stdout}\n${run.stderr}`).toBe(5); // the Inspector's exit code for isError results
      expect(run.stderr).not.toMatch(/output schema|structured content/i);
      const result = JSON.parse(run.stdout) as CallToolResult;
      expect(result.isError).toBe(true);
      expect(textOf(result)).toMatch(expected);
      expect(textOf(result)).not.toMatch(REST_WORDING);
    }
  });

  it('validates a success result against its output schema', async () => {
    const run = await inspector(
      '--method',
      'tools/call',
      '--tool-name',
      'validate_scan',
      '--tool-arg',
      'target=127.0.0.1',
      'template=quick',
    );
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).not.toMatch(/output schema|structured content/i);
    expect((JSON.parse(run.stdout) as CallToolResult).structuredContent).toMatchObject({
      argv: expect.arrayContaining(['--', '127.0.0.1']),
    });
  });
});
