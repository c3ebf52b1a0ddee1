import { SELF } from 'cloudflare:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { CfWorkerJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/cfworker';
import { describe, expect, it, onTestFinished } from 'vitest';
import { finishedScan } from '../../test/helpers/history-scans.ts';
import { ADMIN, api, BASE, mintToken, runnersOnOwnNets } from '../../test/helpers/runner-client.ts';

/**
 * diff_scans, find_services and list_schedules with the official v1 client, and the one line nmap_scan/get_scan
 * results give of what changed. Reports are real nmap XML of a loopback listener (test/fixtures/nmap/diff) sent by a
 * test runner over a real WebSocket. Attacked: another token's scans are neither diffed nor found.
 */
const newRunner = runnersOnOwnNets('mcp-history-runner', 210);
const textOf = (result: unknown) => ((result as CallToolResult).content as Array<{ text: string }>)[0]!.text;

async function connect(token: string): Promise<Client> {
  const transport = new StreamableHTTPClientTransport(new URL(`${BASE}/mcp`), {
    fetch: (url, init) => SELF.fetch(url, init),
    requestInit: { headers: { authorization: `Bearer ${token}` } },
  });
  const client = new Client(
    { name: 'mcp-history', version: '1.0.0' },
    { jsonSchemaValidator: new CfWorkerJsonSchemaValidator() },
  );
  await client.connect(transport);
  onTestFinished(() => client.close());
  await client.listTools();
  return client;
}

describe('history tools over MCP', () => {
  it('say what changed in scan results and in diff_scans, and find services by version', async () => {
    const { net, runner } = await newRunner();
    const token = await mintToken('scan', `mcp-history-${net}`);
    const client = await connect(token);
    const first = await finishedScan(runner, net, token, 'up');
    const second = await finishedScan(runner, net, token, 'newBanner');

    const got = textOf(await client.callTool({ name: 'get_scan', arguments: { scanId: second } }));
    expect(got).toContain(`Since ${first}: 1 service changed, 1 certificate changed. diff_scans has the details.`);
    expect(textOf(await client.callTool({ name: 'get_scan', arguments: { scanId: first } }))).not.toContain('Since ');

    const diff = await client.callTool({ name: 'diff_scans', arguments: { scanId: second } });
    expect(diff.isError).toBeFalsy();
    const text = textOf(diff);
    expect(text).toContain(`${second} compared with ${first}.`);
    expect(text).toContain(`- service 127.${net}.0.1 2222/tcp: OpenSSH 7.4 → OpenSSH 8.9p1 Ubuntu 3`);
    expect(text).toMatch(/- certificate 127\.\d+\.0\.1 4430\/tcp: subject, issuer, notAfter, sha1 changed/);
    expect(text.length).toBeLessThanOrEqual(2000);

    const old = textOf(
      await client.callTool({
        name: 'find_services',
        arguments: { service: 'ssh', versionBelow: '9.0', cidr: `127.${net}.0.0/16` },
      }),
    );
    expect(old).toContain(`- 127.${net}.0.1 2222/tcp ssh OpenSSH 8.9p1 Ubuntu 3`);
    const older = textOf(
      await client.callTool({
        name: 'find_services',
        arguments: { service: 'ssh', versionBelow: '8.0', cidr: `127.${net}.0.0/16` },
      }),
    );
    expect(older).toContain('No matching services');
  });

  it('another token gets not-found for the diff and nothing from find_services; bad input is a clear error', async () => {
    const { net, runner } = await newRunner();
    const owner = await mintToken('scan', `mcp-history-owner-${net}`);
    await finishedScan(runner, net, owner, 'up');
    const id = await finishedScan(runner, net, owner, 'down');
    const other = await connect(await mintToken('scan', `mcp-history-other-${net}`));
    const diff = await other.callTool({ name: 'diff_scans', arguments: { scanId: id } });
    expect(diff.isError).toBe(true);
    expect(textOf(diff)).toContain('not_found');
    expect(textOf(diff)).not.toContain('2222');
    expect(diff.structuredContent).toBeUndefined();
    const found = textOf(await other.callTool({ name: 'find_services', arguments: { cidr: `127.${net}.0.0/16` } }));
    expect(found).toContain('No matching services');

    const bad = await other.callTool({ name: 'find_services', arguments: { cidr: '10.0.0.0/40' } });
    expect(bad.isError).toBe(true);
    expect(textOf(bad)).toContain('cidr');
  });

  it('gives list_schedules to admins only', async () => {
    const { net } = await newRunner();
    const made = await api('/v1/schedules', {
      method: 'POST',
      token: ADMIN,
      json: { name: `mcp-nightly-${net}`, scan: { target: `127.${net}.0.1` }, cron: '0 3 * * *' },
    });
    expect(made.status).toBe(201);
    const admin = await connect(ADMIN);
    const listed = textOf(await admin.callTool({ name: 'list_schedules', arguments: {} }));
    expect(listed).toContain(`- mcp-nightly-${net} (active): 127.${net}.0.1 cron "0 3 * * *" UTC`);
    const scanToken = await mintToken('scan', `mcp-history-sched-${net}`);
    const res = await SELF.fetch(`${BASE}/mcp`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${scanToken}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/call',
        params: { name: 'list_schedules', arguments: {} },
      }),
    });
    const body = await res.json<{ error: { code: number; message: string } }>();
    expect(body.error.code).toBe(-32602);
    expect(body.error.message).toContain('Unknown tool: list_schedules');
  });
});
