import { SELF } from 'cloudflare:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  CallToolResultSchema,
  CreateTaskResultSchema,
  McpError,
  type CallToolResult,
} from '@modelcontextprotocol/sdk/types.js';
import { CfWorkerJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/cfworker';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { EdgeMessage, JobDispatch } from '../../../shared/protocol/index.ts';
import { ADMIN, api, BASE, mintToken, runnersOnOwnNets } from '../../test/helpers/runner-client.ts';

/**
 * Every error path of every tool, through the official v1 SDK client as an agent host uses it: tools/list
 * first, so the client validates each result's structuredContent against the tool's outputSchema and throws
 * -32602 on a mismatch (workerd forbids AJV's code generation, so the SDK's cfworker validator; the end-to-end
 * test in test/e2e/mcp-clients.e2e.test.ts uses the default AJV one on Node). Each error must arrive as an isError result the client
 * accepts, carrying type, message and fix in its text, worded for MCP (no HTTP routes, no curl).
 */
async function connect(token: string): Promise<Client> {
  const transport = new StreamableHTTPClientTransport(new URL(`${BASE}/mcp`), {
    fetch: (url, init) => SELF.fetch(url, init),
    requestInit: { headers: { authorization: `Bearer ${token}` } },
  });
  const client = new Client(
    { name: 'scangate-errors', version: '1.0.0' },
    { jsonSchemaValidator: new CfWorkerJsonSchemaValidator() },
  );
  await client.connect(transport);
  onTestFinished(() => client.close());
  await client.listTools();
  return client;
}

const REST_WORDING = /\b(?:GET|POST|PUT|PATCH|DELETE) \/|\/v1\/|\bcurl\b/;
const textOf = (result: unknown) =>
  ((result as { content: unknown }).content as Array<{ type: string; text: string }>).map((c) => c.text).join('\n');

/** A refusal as the taxonomy gives it: isError, no structuredContent, `type: message`, the fix, nothing REST. */
function expectToolError(answer: unknown, type: string, message: RegExp, fix?: RegExp): string {
  const result = answer as CallToolResult;
  const text = textOf(result);
  expect(result.isError, text).toBe(true);
  expect(result.structuredContent).toBeUndefined();
  expect(text).toMatch(new RegExp(`^${type}: `));
  expect(text.split('\n')[0]).toMatch(message);
  expect(text).toMatch(/\nWhat to do: \S/);
  if (fix) expect(text.slice(text.indexOf('What to do:'))).toMatch(fix);
  expect(text).not.toMatch(REST_WORDING);
  expect((result._meta as Record<string, { type: string }> | undefined)?.['scangate/error']?.type).toBe(type);
  return text;
}

const newRunner = runnersOnOwnNets('mcp-err-runner', 80);
const isDispatch = (m: EdgeMessage): m is JobDispatch => m.type === 'job.dispatch';

describe('MCP error results the official v1 client accepts', () => {
  it('nmap_scan: policy refusals, with fixes that name tools instead of routes', async () => {
    const { net } = await newRunner();
    const client = await connect(await mintToken('scan', `err-${net}`));
    const target = `127.${net}.0.1`;
    expectToolError(
      await client.callTool({ name: 'nmap_scan', arguments: { target, args: '-iL /etc/passwd' } }),
      'validation_error',
      /-iL/,
    );
    // The REST fix names PUT /v1/policy; over MCP it points at scanner_info.
    expectToolError(
      await client.callTool({ name: 'nmap_scan', arguments: { target, args: '-sT -A' } }),
      'validation_error',
      /-A/,
      /allowIntrusive.*scanner_info/,
    );
    // The REST fix names GET /v1/scripts.
    expectToolError(
      await client.callTool({ name: 'nmap_scan', arguments: { target, args: '-sT --script http-titel' } }),
      'validation_error',
      /http-titel/,
      /scanner_info/,
    );
    expectToolError(
      await client.callTool({ name: 'nmap_scan', arguments: { target: '8.8.8.8' } }),
      'validation_error',
      /8\.8\.8\.8/,
    );
  });

  it('nmap_scan: no runner for the targets, no privileged runner, an open breaker', async () => {
    const { net, minted } = await newRunner();
    const client = await connect(await mintToken('scan', `err-route-${net}`));
    expectToolError(
      await client.callTool({ name: 'nmap_scan', arguments: { target: '10.201.0.1', args: '-sT -p 22' } }),
      'no_runner',
      /10\.201\.0\.1/,
    );
    expectToolError(
      await client.callTool({ name: 'nmap_scan', arguments: { target: `127.${net}.0.1`, args: '-sS -p 22' } }),
      'no_runner',
      /raw sockets/,
    );
    const opened = await api(`/v1/breakers/mcp-err-runner-${net}/open`, { method: 'POST', token: ADMIN });
    expect(opened.status, await opened.clone().text()).toBe(200);
    onTestFinished(async () => void (await api(`/v1/breakers/${minted.id}/reset`, { method: 'POST', token: ADMIN })));
    // The REST fix says "an admin can inspect GET /v1/breakers".
    const text = expectToolError(
      await client.callTool({ name: 'nmap_scan', arguments: { target: `127.${net}.0.1`, args: '-sT -p 22' } }),
      'circuit_breaker_open',
      /open circuit breaker/,
      /scanner_info shows each runner's breaker/,
    );
    expect(text).toMatch(/\nRetry after \d+ s\.$/);
  });

  it('nmap_scan: the rate limit', async () => {
    // A pool of its own, so its one-scan-a-minute policy touches no other test.
    const pool = 'mcp-rate';
    const policy = await api(`/v1/policy?pool=${pool}`, {
      method: 'PUT',
      token: ADMIN,
      json: { rateLimitPerMinute: 1 },
    });
    expect(policy.status, await policy.clone().text()).toBe(200);
    const minted = await (
      await api('/v1/tokens', { method: 'POST', token: ADMIN, json: { name: 'rate-agent', role: 'scan', pool } })
    ).json<{ token: string }>();
    const client = await connect(minted.token);
    // The first call uses the minute's one scan (refused later for want of a runner: it still counts).
    await client.callTool({ name: 'nmap_scan', arguments: { target: '127.0.0.1', args: '-sT -p 22' } });
    const text = expectToolError(
      await client.callTool({ name: 'nmap_scan', arguments: { target: '127.0.0.1', args: '-sT -p 22' } }),
      'rate_limited',
      /limit/,
    );
    expect(text).toMatch(/\nRetry after \d+ s\.$/);
  });

  it('nmap_scan: arguments that break the input schema are tool errors the client accepts', async () => {
    const client = await connect(await mintToken('scan', 'err-input'));
    const result = await client.callTool({ name: 'nmap_scan', arguments: { target: 42 } });
    expect(result.isError).toBe(true);
    expect(result.structuredContent).toBeUndefined();
    expect(textOf(result)).toMatch(/Input validation error.*target/s);
    for (const [name, args] of [
      ['get_scan', { scanId: 'not an id' }],
      ['cancel_scan', {}],
      ['list_scans', { limit: 0 }],
      ['validate_scan', { target: '127.0.0.1', template: 'nope' }],
      ['get_scan', { scanId: 'scan_x', offset: -1 }],
    ] as const) {
      const bad = await client.callTool({ name, arguments: args });
      expect(bad.isError, name).toBe(true);
      expect(bad.structuredContent, name).toBeUndefined();
    }
  });

  it('nmap_scan: a scan that fails or is cancelled is an error result whose structuredContent matches the schema', async () => {
    const { net, runner } = await newRunner();
    const client = await connect(await mintToken('scan', `err-outcome-${net}`));
    const call = client.callTool({ name: 'nmap_scan', arguments: { target: `127.${net}.0.1`, args: '-sT -p 22' } });
    const dispatch = await runner.next(isDispatch);
    runner.finish(dispatch.jobId, ['boom\n'], {
      exitCode: 1,
      error: {
        type: 'execution_error',
        message: 'nmap exited with code 1',
        recoverySuggestion: 'Read the output with GET /v1/scans/x.',
      },
    });
    const failed = await call; // the client validated structuredContent: it would have thrown otherwise
    expect(failed.isError).toBe(true);
    expect(failed.structuredContent).toMatchObject({
      scanId: dispatch.jobId,
      status: 'failed',
      error: { type: 'execution_error' },
    });
    expect(textOf(failed)).toMatch(/execution_error: nmap exited with code 1/);
    expect(textOf(failed)).not.toMatch(REST_WORDING);
  });

  it('nmap_scan as a task: a refusal is a failed task whose result the client accepts', async () => {
    const client = await connect(await mintToken('scan', 'err-task'));
    const created = await client.request(
      {
        method: 'tools/call',
        params: { name: 'nmap_scan', arguments: { target: '10.202.0.1', args: '-sT -p 22' }, task: {} },
      },
      CreateTaskResultSchema,
    );
    expect(created.task.status).toBe('failed');
    expectToolError(
      await client.experimental.tasks.getTaskResult(created.task.taskId, CallToolResultSchema),
      'no_runner',
      /runner/,
    );
    // callToolStream ends a failed task with a generic error and does not fetch the result: the task's own
    // statusMessage carries the refusal and its fix.
    const seen: string[] = [];
    for await (const message of client.experimental.tasks.callToolStream(
      { name: 'nmap_scan', arguments: { target: '10.202.0.1', args: '-sT -p 22' } },
      CallToolResultSchema,
    )) {
      if (message.type === 'taskStatus' || message.type === 'taskCreated')
        seen.push(`${message.task.status} ${message.task.statusMessage ?? ''}`);
      if (message.type === 'error') seen.push('error');
    }
    expect(seen.at(-1)).toBe('error');
    expect(seen.at(-2)).toMatch(/^failed no_runner: .* What to do: \S/);
    expect(seen.join('\n')).not.toMatch(REST_WORDING);
  });

  it('get_scan and cancel_scan: unknown scans, scans of another token, scans that already ended', async () => {
    const { net, runner } = await newRunner();
    const client = await connect(await mintToken('scan', `err-get-${net}`));
    expectToolError(
      await client.callTool({ name: 'get_scan', arguments: { scanId: 'scan_nope' } }),
      'not_found',
      /scan_nope/,
      /list_scans/,
    );
    expectToolError(
      await client.callTool({ name: 'cancel_scan', arguments: { scanId: 'scan_nope' } }),
      'not_found',
      /scan_nope/,
      /list_scans/,
    );

    const call = client.callTool({ name: 'nmap_scan', arguments: { target: `127.${net}.0.1`, args: '-sT -p 22' } });
    const dispatch = await runner.next(isDispatch);
    runner.finish(dispatch.jobId, ['done\n']);
    await call;
    expectToolError(
      await client.callTool({ name: 'cancel_scan', arguments: { scanId: dispatch.jobId } }),
      'conflict',
      /already ended/,
    );
    const other = await connect(await mintToken('scan', `err-other-${net}`));
    expectToolError(
      await other.callTool({ name: 'get_scan', arguments: { scanId: dispatch.jobId } }),
      'not_found',
      new RegExp(dispatch.jobId),
    );
    expectToolError(
      await other.callTool({ name: 'cancel_scan', arguments: { scanId: dispatch.jobId } }),
      'not_found',
      new RegExp(dispatch.jobId),
    );
    // The owner finds it again with list_scans.
    const listed = await client.callTool({ name: 'list_scans', arguments: { limit: 5 } });
    expect((listed.structuredContent as { scans: Array<{ scanId: string; status: string }> }).scans[0]).toMatchObject({
      scanId: dispatch.jobId,
      status: 'succeeded',
    });
    expect((await other.callTool({ name: 'list_scans', arguments: {} })).structuredContent).toEqual({ scans: [] });
  });

  it('validate_scan: refusals as results; list_templates and scanner_info have no error path but stay valid', async () => {
    const client = await connect(await mintToken('scan', 'err-validate'));
    expectToolError(
      await client.callTool({ name: 'validate_scan', arguments: { target: '10.0.0.0/21' } }),
      'validation_error',
      /2048 addresses/,
      /\/22/,
    );
    expectToolError(
      await client.callTool({ name: 'validate_scan', arguments: { target: '127.0.0.1', args: '--script vuln' } }),
      'validation_error',
      /vuln/,
      /scanner_info/,
    );
    for (const name of ['list_templates', 'scanner_info']) {
      const result = await client.callTool({ name, arguments: {} });
      expect(result.isError, name).toBeFalsy();
      expect(textOf(result), name).not.toMatch(REST_WORDING);
    }
  });

  it('an unknown tool and a malformed call are protocol errors', async () => {
    const client = await connect(await mintToken('scan', 'err-protocol'));
    await expect(client.callTool({ name: 'no_such_tool', arguments: {} })).rejects.toThrow(McpError);
    await expect(client.request({ method: 'tools/call', params: {} } as never, CallToolResultSchema)).rejects.toThrow(
      McpError,
    );
  });
});

describe('tools/list', () => {
  it('stays under 8,000 characters, with portable schemas (no type arrays, no untyped values)', async () => {
    const client = await connect(await mintToken('scan', 'list-size'));
    const listed = await client.listTools();
    const length = JSON.stringify(listed).length;
    console.log(
      `tools/list: ${length} characters (${listed.tools.map((t) => `${t.name} ${JSON.stringify(t).length}`).join(', ')})`,
    );
    expect(length).toBeLessThan(8000);
    // An admin token is given list_schedules too: its list is under the bound as well.
    const admin = await (await connect(await mintToken('admin', 'list-size-admin'))).listTools();
    expect(admin.tools.map((t) => t.name)).toContain('list_schedules');
    expect(listed.tools.map((t) => t.name)).not.toContain('list_schedules');
    expect(JSON.stringify(admin).length).toBeLessThan(8000);
    const problems: string[] = [];
    const walk = (node: unknown, path: string): void => {
      if (Array.isArray(node)) {
        for (const [i, n] of node.entries()) walk(n, `${path}/${i}`);
        return;
      }
      if (typeof node !== 'object' || node === null) return;
      const schema = node as Record<string, unknown>;
      if (Array.isArray(schema.type)) problems.push(`${path}: type ${JSON.stringify(schema.type)}`);
      for (const [key, value] of Object.entries(schema)) {
        if (['properties', '$defs', 'definitions'].includes(key) && typeof value === 'object' && value) {
          for (const [name, child] of Object.entries(value)) {
            if (
              typeof child === 'object' &&
              child &&
              Object.keys(child).filter((k) => k !== 'description').length === 0
            )
              problems.push(`${path}/${key}/${name}: untyped`);
            walk(child, `${path}/${key}/${name}`);
          }
        } else if (['items', 'additionalProperties', 'anyOf', 'oneOf', 'allOf'].includes(key)) {
          if (key === 'additionalProperties' && typeof value === 'object' && value && Object.keys(value).length === 0)
            problems.push(`${path}/additionalProperties: untyped`);
          walk(value, `${path}/${key}`);
        }
      }
    };
    for (const tool of listed.tools) {
      walk(tool.inputSchema, `${tool.name}/inputSchema`);
      walk(tool.outputSchema, `${tool.name}/outputSchema`);
    }
    expect(problems).toEqual([]);
  });
});
