import { SELF } from 'cloudflare:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { CfWorkerJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/cfworker';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { EdgeMessage, JobDispatch } from '../../../shared/protocol/index.ts';
import { ADMIN, api, BASE, mintToken, runnersOnOwnNets } from '../../test/helpers/runner-client.ts';

/**
 * Long scans for agents whose host aborts a call after ~60 s: nmap_scan answers after waitSec with the scan as it
 * stands and the next call, wait_for_scan follows it (with progress notifications), list_scans finds it again.
 * The official SDK client against the real Worker; the runner is the test-side protocol client, so a scan runs
 * exactly until the test finishes it (no timing windows: each wait ends at its own limit or on the scan's end).
 */
async function connect(token: string): Promise<Client> {
  const transport = new StreamableHTTPClientTransport(new URL(`${BASE}/mcp`), {
    fetch: (url, init) => SELF.fetch(url, init),
    requestInit: { headers: { authorization: `Bearer ${token}` } },
  });
  const client = new Client(
    { name: 'scangate-wait-test', version: '1.0.0' },
    { jsonSchemaValidator: new CfWorkerJsonSchemaValidator() },
  );
  await client.connect(transport);
  onTestFinished(() => client.close());
  await client.listTools(); // as real clients do: from here on every structuredContent is checked against its schema
  return client;
}

const newRunner = runnersOnOwnNets('wait-runner', 180);
async function setup(name: string) {
  const { net, runner } = await newRunner();
  const token = await mintToken('scan', `${name}-${net}`);
  return { runner, token, client: await connect(token), target: `127.${net}.0.1` };
}

const isDispatch = (m: EdgeMessage): m is JobDispatch => m.type === 'job.dispatch';
const textOf = (result: unknown) => ((result as CallToolResult).content as Array<{ text: string }>)[0]!.text;
const TERMINAL = ['succeeded', 'failed', 'cancelled', 'rejected'];

const REST_WORDING = /\b(?:GET|POST|PUT|PATCH|DELETE) \/|\/v1\/|\bcurl\b/;

describe('nmap_scan with waitSec, then wait_for_scan', () => {
  it('the instructions and the tool descriptions teach the loop: start, wait, read, in MCP words', async () => {
    const { client } = await setup('wait-teach');
    const instructions = client.getInstructions() ?? '';
    expect(instructions).toMatch(/nmap_scan .*waitSec.*wait_for_scan.*get_scan.*list_scans/s);
    const { tools } = await client.listTools();
    const described = (name: string) => tools.find((t) => t.name === name)!;
    expect(described('nmap_scan').description).toMatch(/waitSec/);
    expect(JSON.stringify(described('nmap_scan').inputSchema.properties?.waitSec)).toMatch(/"maximum":55/);
    expect(described('wait_for_scan').description).toMatch(/maxWaitSec.*get_scan/);
    expect(described('wait_for_scan').annotations).toMatchObject({ readOnlyHint: true });
    for (const text of [instructions, ...tools.map((t) => JSON.stringify(t))]) expect(text).not.toMatch(REST_WORDING);
  });

  it('a scan that outlasts waitSec comes back running with the next call; wait_for_scan follows it to its result', async () => {
    const { client, runner, target } = await setup('wait-follow');
    const call = client.callTool({ name: 'nmap_scan', arguments: { target, args: '-sT -p 1-1000', waitSec: 1 } });
    const dispatch = await runner.next(isDispatch);
    runner.send({ type: 'job.accepted', jobId: dispatch.jobId });
    runner.send({ type: 'job.progress', jobId: dispatch.jobId, percent: 40, phase: 'Connect Scan', etaSec: 30 });
    // The runner never finishes during this call: it can only end at waitSec.
    const first = await call;
    expect(first.isError).toBeFalsy();
    expect(first.structuredContent).toMatchObject({ scanId: dispatch.jobId });
    expect(TERMINAL).not.toContain((first.structuredContent as { status: string }).status);
    expect(textOf(first)).toContain(
      `Not done after 1 s; it keeps running. Next call: wait_for_scan {"scanId": "${dispatch.jobId}"}`,
    );

    // At its limit, wait_for_scan answers with progress and the same next call.
    let still: CallToolResult;
    do {
      still = (await client.callTool({
        name: 'wait_for_scan',
        arguments: { scanId: dispatch.jobId, maxWaitSec: 1 },
      })) as CallToolResult;
    } while ((still.structuredContent as { percent?: number }).percent === undefined); // until the progress is in
    expect(still.isError).toBeFalsy();
    expect(still.structuredContent).toEqual({ scanId: dispatch.jobId, status: 'running', percent: 40 });
    expect(textOf(still)).toBe(
      `Scan ${dispatch.jobId} running: Connect Scan 40%, ~30 s left (targets: ${target}).\nNot done after 1 s; it keeps running. Next call: wait_for_scan {"scanId": "${dispatch.jobId}"}`,
    );

    // Waiting with the default limit ends when the scan does.
    const waiting = client.callTool({ name: 'wait_for_scan', arguments: { scanId: dispatch.jobId } });
    runner.finish(dispatch.jobId, ['22/tcp open ssh\n']);
    const done = await waiting;
    expect(done.isError).toBeFalsy();
    expect(done.structuredContent).toMatchObject({ scanId: dispatch.jobId, status: 'succeeded' });
    expect(textOf(done)).toContain(`Scan ${dispatch.jobId} succeeded`);
    expect(textOf(done)).toContain(`get_scan {"scanId": "${dispatch.jobId}"}`);
    for (const result of [first, still, done]) expect(textOf(result)).not.toMatch(REST_WORDING);
    const got = await client.callTool({ name: 'get_scan', arguments: { scanId: dispatch.jobId } });
    expect(got.structuredContent).toMatchObject({ scanId: dispatch.jobId, status: 'succeeded' });
  });

  it('a scan that ends within the wait returns its result in one call, as without waitSec', async () => {
    const { client, runner, target } = await setup('wait-short');
    const call = client.callTool({ name: 'nmap_scan', arguments: { target, args: '-sT -p 22', waitSec: 55 } });
    const dispatch = await runner.next(isDispatch);
    runner.finish(dispatch.jobId, ['done\n']);
    const result = await call;
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({ scanId: dispatch.jobId, status: 'succeeded' });
    expect(textOf(result)).toContain(`Scan ${dispatch.jobId} succeeded`);
    expect(textOf(result)).not.toContain('wait_for_scan');
  });

  it('wait_for_scan sends progress notifications while it waits, then its result', async () => {
    const { client, runner, target } = await setup('wait-progress');
    const first = client.callTool({ name: 'nmap_scan', arguments: { target, args: '-sT -p 1-1000', waitSec: 1 } });
    const dispatch = await runner.next(isDispatch);
    runner.send({ type: 'job.accepted', jobId: dispatch.jobId });
    await first;

    const messages: string[] = [];
    let sawSeventy: () => void;
    const seventy = new Promise<void>((resolve) => {
      sawSeventy = resolve;
    });
    const waiting = client.callTool(
      { name: 'wait_for_scan', arguments: { scanId: dispatch.jobId, maxWaitSec: 55 } },
      CallToolResultSchema,
      {
        onprogress: (p) => {
          messages.push(p.message ?? '');
          if (p.message?.startsWith('Service scan 70%')) sawSeventy();
        },
        resetTimeoutOnProgress: true,
      },
    );
    runner.send({ type: 'job.progress', jobId: dispatch.jobId, percent: 70, phase: 'Service scan', etaSec: 5 });
    await seventy!; // a notification reached the client while the call was still waiting
    runner.finish(dispatch.jobId, ['ok\n']);
    const done = await waiting;
    expect(messages).toContain('Service scan 70%, ~5 s left');
    expect(done.structuredContent).toMatchObject({ scanId: dispatch.jobId, status: 'succeeded' });
  });

  it('wait_for_scan sends a heartbeat while nothing moves, so clients that reset their timeout on progress wait on', async () => {
    const { client, runner, target } = await setup('wait-heartbeat');
    const first = client.callTool({ name: 'nmap_scan', arguments: { target, args: '-sT -p 1-1000', waitSec: 1 } });
    const dispatch = await runner.next(isDispatch);
    await first; // dispatched, never accepted: the scan sends no event from here on
    let heard: (message: string) => void;
    const heartbeat = new Promise<string>((resolve) => {
      heard = resolve;
    });
    const waiting = client.callTool(
      { name: 'wait_for_scan', arguments: { scanId: dispatch.jobId, maxWaitSec: 55 } },
      CallToolResultSchema,
      { onprogress: (p) => heard(p.message ?? ''), resetTimeoutOnProgress: true },
    );
    expect(await heartbeat).toBe('starting on its runner');
    runner.finish(dispatch.jobId, ['ok\n']);
    expect((await waiting).structuredContent).toMatchObject({ scanId: dispatch.jobId, status: 'succeeded' });
  });

  it('list_scans finds a running scan again, with its progress and the call that follows it', async () => {
    const { client, runner, target } = await setup('wait-list');
    const first = client.callTool({ name: 'nmap_scan', arguments: { target, args: '-sT -p 1-1000', waitSec: 1 } });
    const dispatch = await runner.next(isDispatch);
    runner.send({ type: 'job.accepted', jobId: dispatch.jobId });
    await first;
    const listed = await client.callTool({ name: 'list_scans', arguments: { status: 'running' } });
    expect((listed.structuredContent as { scans: Array<{ scanId: string }> }).scans[0]?.scanId).toBe(dispatch.jobId);
    expect(textOf(listed)).toMatch(
      new RegExp(`^${dispatch.jobId} running \\(.*\\) ${target.replace(/\./g, '\\.')}, created `),
    );
    expect(textOf(listed)).toContain(`Follow a running scan: wait_for_scan {"scanId": "${dispatch.jobId}"}`);
    const none = await client.callTool({ name: 'list_scans', arguments: { status: 'failed' } });
    expect(textOf(none)).toBe('No failed scans: start one with nmap_scan.');
  });
});

describe('wait_for_scan refuses', () => {
  it("another token's scan, exactly as a scan that does not exist, and leaks nothing of it (attack)", async () => {
    const { client: owner, runner, target } = await setup('wait-owner');
    const started = owner.callTool({ name: 'nmap_scan', arguments: { target, args: '-sT -p 1-1000', waitSec: 1 } });
    const dispatch = await runner.next(isDispatch);
    runner.send({ type: 'job.accepted', jobId: dispatch.jobId });
    runner.send({ type: 'job.progress', jobId: dispatch.jobId, percent: 10, phase: 'Connect Scan' });
    await started;

    const attacker = await connect(await mintToken('scan', 'wait-attacker'));
    const stolen = await attacker.callTool({
      name: 'wait_for_scan',
      arguments: { scanId: dispatch.jobId, maxWaitSec: 1 },
    });
    const missing = await attacker.callTool({
      name: 'wait_for_scan',
      arguments: { scanId: 'scan_nope', maxWaitSec: 1 },
    });
    const viaGet = await attacker.callTool({ name: 'get_scan', arguments: { scanId: dispatch.jobId } });
    expect(stolen.isError).toBe(true);
    expect(stolen.structuredContent).toBeUndefined();
    expect(textOf(stolen)).toBe(textOf(viaGet));
    expect(textOf(stolen).replace(dispatch.jobId, 'ID')).toBe(textOf(missing).replace('scan_nope', 'ID'));
    expect(stolen._meta?.['scangate/error']).toMatchObject({ type: 'not_found' });
    expect(textOf(stolen)).not.toContain(target);
    expect(textOf(stolen)).not.toMatch(/running|Connect Scan|10%/);

    // The owner is unaffected, and an admin may follow any scan, as get_scan allows.
    const admin = await connect(ADMIN);
    const asAdmin = await admin.callTool({
      name: 'wait_for_scan',
      arguments: { scanId: dispatch.jobId, maxWaitSec: 1 },
    });
    expect(asAdmin.structuredContent).toMatchObject({ scanId: dispatch.jobId, status: 'running' });
    const waiting = owner.callTool({ name: 'wait_for_scan', arguments: { scanId: dispatch.jobId } });
    runner.finish(dispatch.jobId, ['ok\n']);
    expect((await waiting).structuredContent).toMatchObject({ scanId: dispatch.jobId, status: 'succeeded' });
  });

  it('bad waits and bad scan ids with a clear error, and starts nothing', async () => {
    const { client, token, target } = await setup('wait-bad');
    for (const maxWaitSec of [0, 56, 1.5, '45']) {
      const result = await client.callTool({ name: 'wait_for_scan', arguments: { scanId: 'scan_abc', maxWaitSec } });
      expect(result.isError, String(maxWaitSec)).toBe(true);
      expect(textOf(result), String(maxWaitSec)).toMatch(/Input validation error.*maxWaitSec/s);
    }
    for (const scanId of ['scan_../../x', '', 42]) {
      const result = await client.callTool({ name: 'wait_for_scan', arguments: { scanId } });
      expect(result.isError, String(scanId)).toBe(true);
      expect(textOf(result), String(scanId)).toMatch(/Input validation error.*scanId/s);
    }
    const missing = await client.callTool({ name: 'wait_for_scan', arguments: { scanId: 'scan_nope' } });
    expect(textOf(missing)).toMatch(
      /^not_found: No scan scan_nope\nWhat to do: List your scans with the list_scans tool\./,
    );
    for (const waitSec of [0, 56, 2.5]) {
      const result = await client.callTool({ name: 'nmap_scan', arguments: { target, waitSec } });
      expect(result.isError, String(waitSec)).toBe(true);
      expect(textOf(result), String(waitSec)).toMatch(/Input validation error.*waitSec/s);
    }
    const listed = await (await api('/v1/scans', { token })).json<{ scans: unknown[] }>();
    expect(listed.scans).toEqual([]);
  });
});
