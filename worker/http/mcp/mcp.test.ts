import { SELF } from 'cloudflare:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema, CreateTaskResultSchema, McpError } from '@modelcontextprotocol/sdk/types.js';
import { CfWorkerJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/cfworker';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { Report } from '../../../shared/nmap-xml/index.ts';
import type { EdgeMessage, JobDispatch } from '../../../shared/protocol/index.ts';
import { ADMIN, api, BASE, mintRunner, mintToken, runnersOnOwnNets } from '../../test/helpers/runner-client.ts';
import { TOOL_NAMES } from './scan.tools.ts';

/** The official MCP SDK client against the real Worker in workerd; the runner is the test-side protocol client. */
async function connect(token: string): Promise<Client> {
  const transport = new StreamableHTTPClientTransport(new URL(`${BASE}/mcp`), {
    fetch: (url, init) => SELF.fetch(url, init),
    requestInit: { headers: { authorization: `Bearer ${token}` } },
  });
  const client = new Client(
    { name: 'scangate-test', version: '1.0.0' },
    { jsonSchemaValidator: new CfWorkerJsonSchemaValidator() },
  );
  await client.connect(transport);
  onTestFinished(() => client.close());
  // As real clients do: tools/list first, so callTool validates every structuredContent against its outputSchema.
  await client.listTools();
  return client;
}

const newRunner = runnersOnOwnNets('mcp-runner', 50);
async function setup() {
  const { net, runner } = await newRunner();
  const token = await mintToken('scan', `agent-${net}`);
  return { net, runner, token, client: await connect(token), target: `127.${net}.0.1` };
}

const isDispatch = (m: EdgeMessage): m is JobDispatch => m.type === 'job.dispatch';

function reportWithOpenPort(address: string): Report {
  return {
    scanner: { version: '7.93', args: 'nmap …', startedAt: null, endedAt: null },
    hosts: [
      {
        status: 'up',
        reason: 'user-set',
        addresses: [{ addr: address, type: 'ipv4', vendor: null }],
        hostnames: [],
        extraPorts: [],
        hostScripts: [],
        os: [],
        ports: [
          {
            protocol: 'tcp',
            port: 22,
            state: 'open',
            reason: 'syn-ack',
            service: {
              name: 'ssh',
              product: 'OpenSSH',
              version: '9.2p1',
              extraInfo: null,
              tunnel: null,
              method: 'probed',
              confidence: 10,
            },
            cpe: [],
            scripts: [],
          },
        ],
      },
    ],
    stats: {
      hostsUp: 1,
      hostsDown: 0,
      hostsTotal: 1,
      elapsedSec: 1,
      exit: 'success',
      summary: null,
      errorMessage: null,
    },
  };
}

describe('MCP endpoint', () => {
  it('lists the ten tools with schemas that teach their use and honest annotations', async () => {
    const { client } = await setup();
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual([
      'cancel_scan',
      'diff_scans',
      'find_services',
      'get_scan',
      'list_scans',
      'list_templates',
      'nmap_scan',
      'scanner_info',
      'validate_scan',
      'wait_for_scan',
    ]);
    // list_schedules is given to admin tokens only.
    expect([...TOOL_NAMES].filter((n) => n !== 'list_schedules').sort()).toEqual(tools.map((t) => t.name).sort());
    const scan = tools.find((t) => t.name === 'nmap_scan')!;
    expect(scan.execution?.taskSupport).toBe('optional');
    expect(scan.annotations).toMatchObject({ destructiveHint: false, openWorldHint: true });
    expect(scan.annotations?.readOnlyHint).toBeFalsy();
    expect(JSON.stringify(scan.inputSchema)).toMatch(/lab\.internal/);
    expect(JSON.stringify(scan.inputSchema)).toMatch(/quick/);
    for (const tool of tools) {
      // The history tools answer in text only (bounded like a scan result); the scan tools with structured results too.
      if (!['diff_scans', 'find_services'].includes(tool.name)) expect(tool.outputSchema, tool.name).toBeDefined();
      expect(tool.description!.length, tool.name).toBeGreaterThan(20);
    }
    expect(tools.find((t) => t.name === 'validate_scan')!.annotations?.readOnlyHint).toBe(true);
  });

  it('validate_scan returns the canonical argv, or an isError result with the taxonomy', async () => {
    const { client } = await setup();
    const good = await client.callTool({ name: 'validate_scan', arguments: { target: '10.0.0.5', template: 'quick' } });
    expect(good.isError).toBeFalsy();
    expect(good.structuredContent).toMatchObject({
      argv: ['--top-ports', '100', '-Pn', '-n', '-T4', '--max-parallelism', '10', '--', '10.0.0.5'],
    });
    const bad = await client.callTool({ name: 'validate_scan', arguments: { target: '10.0.0.0/21' } });
    expect(bad.isError).toBe(true);
    expect(bad.structuredContent).toBeUndefined();
    expect(bad._meta?.['scangate/error']).toMatchObject({
      type: 'validation_error',
      message: expect.stringMatching(/2048 addresses/),
      recoverySuggestion: expect.stringMatching(/\/22/),
    });
    expect((bad.content as Array<{ text: string }>)[0]!.text).toMatch(/^validation_error: .*\nWhat to do: /);
  });

  it('nmap_scan sends progress notifications before its result, which summarizes open ports', async () => {
    const { client, runner, target } = await setup();
    const events: string[] = [];
    const call = client
      .callTool({ name: 'nmap_scan', arguments: { target, args: '-sT -sV -p 22' } }, CallToolResultSchema, {
        onprogress: (p) => events.push(`progress ${p.message}`),
        timeout: 30_000,
      })
      .then((result) => {
        events.push('result');
        return result;
      });
    const dispatch = await runner.next(isDispatch);
    runner.send({ type: 'job.accepted', jobId: dispatch.jobId });
    runner.send({ type: 'job.progress', jobId: dispatch.jobId, percent: 30, phase: 'Connect Scan', etaSec: 4 });
    await new Promise((r) => setTimeout(r, 200));
    runner.send({ type: 'job.progress', jobId: dispatch.jobId, percent: 80, phase: 'Service scan' });
    await new Promise((r) => setTimeout(r, 200));
    runner.finish(dispatch.jobId, ['22/tcp open ssh OpenSSH 9.2p1\n'], { report: reportWithOpenPort(target) });
    const result = await call;
    expect(events.filter((e) => e.startsWith('progress')).length).toBeGreaterThanOrEqual(2);
    expect(events.at(-1)).toBe('result');
    expect(events[0]).toBe('progress Connect Scan 30%, ~4 s left');
    expect(result.isError).toBeFalsy();
    const text = (result.content as Array<{ text: string }>)[0]!.text;
    expect(text).toContain(`Scan ${dispatch.jobId} succeeded`);
    expect(text).toContain(`- ${target} 22/tcp ssh OpenSSH 9.2p1`);
    expect(text).not.toContain('22/tcp open ssh OpenSSH 9.2p1\n'); // raw output stays out of the summary
    expect(result.structuredContent).toMatchObject({
      scanId: dispatch.jobId,
      status: 'succeeded',
      hostsUp: 1,
      openPorts: [{ host: target, port: 22, service: 'ssh', product: 'OpenSSH', version: '9.2p1' }],
    });
  });

  it('nmap_scan goes through the same path as POST /v1/scans: the scan is listed there', async () => {
    const { client, runner, target, token } = await setup();
    const call = client.callTool({ name: 'nmap_scan', arguments: { target, template: 'quick' } });
    const dispatch = await runner.next(isDispatch);
    runner.finish(dispatch.jobId, ['done\n']);
    await call;
    const listed = await (await api('/v1/scans', { token })).json<{ scans: Array<{ id: string; argv: string[] }> }>();
    expect(listed.scans[0]).toMatchObject({ id: dispatch.jobId, argv: dispatch.argv });
  });

  it('get_scan returns the summary and the tail of raw output on request; cancel_scan stops a scan', async () => {
    const { client, runner, target } = await setup();
    const call = client.callTool({ name: 'nmap_scan', arguments: { target, args: '-sT -p 22' } });
    const first = await runner.next(isDispatch);
    runner.finish(first.jobId, ['line one\n', 'line two\n']);
    await call;
    const got = await client.callTool({ name: 'get_scan', arguments: { scanId: first.jobId, outputTail: 9 } });
    expect((got.content as Array<{ text: string }>)[0]!.text).toMatch(/last 9 characters of output ---\nline two\n$/);
    expect(got.structuredContent).toMatchObject({ scanId: first.jobId, status: 'succeeded' });
    expect((got.content as Array<{ text: string }>)[0]!.text).toContain('Raw output (18 bytes)');

    const running = client.callTool({ name: 'nmap_scan', arguments: { target, args: '-sT -p 1-1000' } });
    const second = await runner.next((m): m is JobDispatch => isDispatch(m) && m.jobId !== first.jobId);
    const cancel = await client.callTool({ name: 'cancel_scan', arguments: { scanId: second.jobId } });
    expect((cancel.content as Array<{ text: string }>)[0]!.text).toMatch(/^Cancel requested/);
    await runner.next((m) => m.type === 'job.cancel' && m.jobId === second.jobId);
    runner.finish(second.jobId, [], { cancelled: true, exitCode: null, signal: 'SIGTERM' });
    const ended = await running;
    expect(ended.isError).toBe(true);
    expect(ended.structuredContent).toMatchObject({ status: 'cancelled' });
    const missing = await client.callTool({ name: 'get_scan', arguments: { scanId: 'scan_nope' } });
    expect(missing.isError).toBe(true);
    expect((missing.content as Array<{ text: string }>)[0]!.text).toMatch(
      /^not_found: No scan scan_nope\nWhat to do: List your scans with the list_scans tool\./,
    );
  });

  it('runs a long scan as an MCP task: start, poll, fetch the result later, list and cancel', async () => {
    const { client, runner, target } = await setup();
    const created = await client.request(
      {
        method: 'tools/call',
        params: { name: 'nmap_scan', arguments: { target, args: '-sT -p 22' }, task: { ttl: 120_000 } },
      },
      CreateTaskResultSchema,
    );
    const taskId = created.task.taskId;
    expect(created.task.status).toBe('working');
    const dispatch = await runner.next(isDispatch);
    expect(dispatch.jobId).toBe(taskId);
    expect((await client.experimental.tasks.getTask(taskId)).status).toBe('working');
    runner.finish(dispatch.jobId, ['ok\n'], { report: reportWithOpenPort(target) });
    await runner.next((m) => m.type === 'ack' && m.jobId === taskId && m.seq === 2);
    expect((await client.experimental.tasks.getTask(taskId)).status).toBe('completed');
    const result = await client.experimental.tasks.getTaskResult(taskId, CallToolResultSchema);
    expect(result.structuredContent).toMatchObject({ scanId: taskId, status: 'succeeded', hostsUp: 1 });
    expect((await client.experimental.tasks.listTasks()).tasks.map((t) => t.taskId)).toContain(taskId);

    const second = await client.request(
      { method: 'tools/call', params: { name: 'nmap_scan', arguments: { target, args: '-sT -p 80' }, task: {} } },
      CreateTaskResultSchema,
    );
    await runner.next((m) => isDispatch(m) && m.jobId === second.task.taskId);
    const cancelled = await client.experimental.tasks.cancelTask(second.task.taskId);
    expect(cancelled.status).toBe('cancelled');
    await runner.next((m) => m.type === 'job.cancel' && m.jobId === second.task.taskId);

    const other = await connect(await mintToken('scan', 'someone else'));
    await expect(other.experimental.tasks.getTask(taskId)).rejects.toThrow(/not found/i);
  });

  it('streams a task-capable call with callToolStream', async () => {
    const { client, runner, target } = await setup();
    const seen: string[] = [];
    const consume = (async () => {
      for await (const message of client.experimental.tasks.callToolStream(
        { name: 'nmap_scan', arguments: { target, args: '-sT -p 22' } },
        CallToolResultSchema,
      )) {
        seen.push(message.type);
        if (message.type === 'result') return message.result;
        if (message.type === 'error') throw message.error;
      }
      return undefined;
    })();
    const dispatch = await runner.next(isDispatch);
    runner.finish(dispatch.jobId, ['ok\n']);
    const result = await consume;
    expect(seen.at(-1)).toBe('result');
    expect(result?.structuredContent).toMatchObject({ status: 'succeeded' });
  });

  it('turns refusals into isError results with the taxonomy, and malformed calls into protocol errors', async () => {
    const { client, target } = await setup();
    const refused = await client.callTool({ name: 'nmap_scan', arguments: { target: '10.200.0.1' } });
    expect(refused.isError).toBe(true);
    expect(refused._meta?.['scangate/error']).toMatchObject({ type: 'no_runner' });
    const forbidden = await client.callTool({ name: 'nmap_scan', arguments: { target, args: '-iL /etc/passwd' } });
    expect(forbidden._meta?.['scangate/error']).toMatchObject({
      type: 'validation_error',
      message: expect.stringMatching(/-iL/),
    });
    // Arguments that break the input schema are tool errors the model can correct (MCP 2025-11-25, as the SDK does).
    const badArgs = await client.callTool({ name: 'nmap_scan', arguments: { target: 42 } });
    expect(badArgs.isError).toBe(true);
    expect((badArgs.content as Array<{ text: string }>)[0]!.text).toMatch(/Input validation error.*target/s);
    // Calls that are malformed as protocol messages are protocol errors.
    await expect(client.callTool({ name: 'no_such_tool', arguments: {} })).rejects.toThrow(McpError);
    await expect(client.request({ method: 'tools/call', params: {} } as never, CallToolResultSchema)).rejects.toThrow(
      McpError,
    );
  });

  it('scanner_info and list_templates describe the limits and presets', async () => {
    const { client, net } = await setup();
    const info = await client.callTool({ name: 'scanner_info', arguments: {} });
    expect((info.content as Array<{ text: string }>)[0]!.text).toMatch(/Allowed networks: 10\.0\.0\.0\/8/);
    expect((info.structuredContent as { runners: Array<{ name: string }> }).runners.map((r) => r.name)).toContain(
      `mcp-runner-${net}`,
    );
    const scripts = (info.structuredContent as { scripts: { nmapReleases: string; allowed: string[] } }).scripts;
    expect(scripts.nmapReleases).toBe('7.90–7.99');
    expect(scripts.allowed).toContain('http-title');
    expect(scripts.allowed).not.toContain('http-referer-checker');
    const templates = await client.callTool({ name: 'list_templates', arguments: {} });
    expect(
      (templates.structuredContent as { templates: Array<{ name: string }> }).templates.map((t) => t.name),
    ).toEqual(['quick', 'standard', 'thorough', 'discovery', 'version', 'script']);
  });
});

describe('MCP auth', () => {
  const init = {
    jsonrpc: '2.0',
    id: 1,
    method: 'initialize',
    params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
  };
  const post = (headers: Record<string, string>) =>
    SELF.fetch(`${BASE}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
      body: JSON.stringify(init),
    });

  it('answers no token and a bad token with 401 and WWW-Authenticate', async () => {
    for (const headers of [{}, { authorization: 'Bearer nope' }] as Array<Record<string, string>>) {
      const res = await post(headers);
      expect(res.status).toBe(401);
      // The OAuth challenge (RFC 9728): it names the resource metadata, where clients find the authorization server.
      expect(res.headers.get('www-authenticate')).toMatch(
        /^Bearer realm="OAuth", resource_metadata="https:\/\/scangate\.test\/\.well-known\/oauth-protected-resource\/mcp"/,
      );
    }
    const transport = new StreamableHTTPClientTransport(new URL(`${BASE}/mcp`), { fetch: (u, i) => SELF.fetch(u, i) });
    await expect(new Client({ name: 'x', version: '1' }).connect(transport)).rejects.toThrow();
  });

  it('refuses runner tokens and revoked tokens', async () => {
    const runner = await mintRunner('mcp-auth-runner');
    expect((await post({ authorization: `Bearer ${runner.token}` })).status).toBe(403);
    const minted = await (
      await api('/v1/tokens', { method: 'POST', token: ADMIN, json: { name: 'soon revoked', role: 'scan' } })
    ).json<{ id: string; token: string }>();
    expect((await post({ authorization: `Bearer ${minted.token}` })).status).toBe(200);
    await api(`/v1/tokens/${minted.id}`, { method: 'DELETE', token: ADMIN });
    expect((await post({ authorization: `Bearer ${minted.token}` })).status).toBe(401);
  });

  it('checks Origin: a foreign browser origin is refused, none or its own origin passes', async () => {
    const token = await mintToken('scan');
    expect((await post({ authorization: `Bearer ${token}`, origin: 'https://evil.example' })).status).toBe(403);
    expect((await post({ authorization: `Bearer ${token}`, origin: BASE })).status).toBe(200);
  });

  it('is stateless: GET is 405', async () => {
    const token = await mintToken('scan');
    const res = await SELF.fetch(`${BASE}/mcp`, {
      headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
    });
    expect(res.status).toBe(405);
  });

  it('answers a body that is not JSON with a JSON-RPC parse error, not a crash', async () => {
    const token = await mintToken('scan');
    const res = await SELF.fetch(`${BASE}/mcp`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: '{"jsonrpc": "2.0", "method": ',
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32700 } });
  });
});
