import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { sseEvents, textChunks } from '../../scripts/cli/sse.ts';
import { ROOT } from '../../scripts/stack.ts';
import { useBannerServer } from '../helpers/banner-server.ts';
import { useStack } from '../helpers/e2e.ts';

/**
 * The whole product end to end: real wrangler dev, a real runner daemon, real nmap against a port this test
 * opened on 127.0.0.1, reached through every surface a user has (REST, SSE, MCP, CLI).
 */
const stack = useStack();
const banner = useBannerServer();
let token = '';

beforeAll(async () => {
  await stack.readyRunner('e2e-local');
  token = await stack.mintToken('scan', 'e2e-user');
}, 60_000);

function expectSshOpen(report: any, port: number) {
  const found = report.hosts.flatMap((h: any) => h.ports).find((p: any) => p.port === port);
  expect(found).toMatchObject({ state: 'open', service: { name: 'ssh', product: 'OpenSSH' } });
}

describe('end to end: REST, SSE, MCP and the CLI against real nmap', () => {
  it('REST with wait returns the finished scan with the open port and its service', async () => {
    const res = await stack.api(token, 'POST', '/v1/scans', {
      target: '127.0.0.1',
      args: `-sT -sV -p ${banner.port()}`,
      wait: 60,
    });
    expect(res.status).toBe(202);
    expect(res.body.scan.status).toBe('succeeded');
    expect(res.body.scan.exitCode).toBe(0);
    expectSshOpen(res.body.scan.report, banner.port());
    const got = await stack.api(token, 'GET', `/v1/scans/${res.body.scan.id}`);
    expect(got.body.scan.output).toMatch(new RegExp(`${banner.port()}/tcp\\s+open\\s+ssh`));
  });

  it('SSE delivers output and progress while nmap runs, before the scan ends', async () => {
    // ~4 s: 40 ports with a 100 ms delay between probes; -v prints each open port as nmap finds it.
    const args = `-sT -v -p ${banner.port()},1-40 --scan-delay 100ms --max-retries 0`;
    const created = await stack.api(token, 'POST', '/v1/scans', { target: '127.0.0.1', args });
    expect(created.status).toBe(202);
    const id = created.body.scan.id as string;
    const res = await fetch(`${stack.url}/v1/scans/${id}/events`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    const seen: Array<{ type: string; at: number; data: any; id: string | undefined }> = [];
    for await (const event of sseEvents(textChunks(res.body!))) {
      seen.push({ type: event.event, at: Date.now(), data: JSON.parse(event.data), id: event.id });
      if (event.event === 'finished') break;
    }
    const types = seen.map((e) => e.type);
    expect(types[0]).toBe('queued');
    expect(types).toContain('dispatched');
    expect(types).toContain('progress');
    expect(types.at(-1)).toBe('finished');
    const finishedAt = seen.at(-1)!.at;
    const discovered = seen.find(
      (e) => e.type === 'output' && String(e.data.data).includes(`Discovered open port ${banner.port()}/tcp`),
    );
    expect(discovered, 'the open port was streamed').toBeDefined();
    // Live, not a replay at the end: the first output came well before the scan finished.
    const firstOutput = seen.find((e) => e.type === 'output')!;
    expect(finishedAt - firstOutput.at).toBeGreaterThan(1000);
    // Event ids increase, so a client can resume with Last-Event-ID.
    const ids = seen.map((e) => Number(e.id));
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(ids.length);
    // Resuming after the third event replays exactly the rest.
    const resumed = await fetch(`${stack.url}/v1/scans/${id}/events`, {
      headers: { authorization: `Bearer ${token}`, 'last-event-id': String(ids[2]) },
    });
    const rest: number[] = [];
    for await (const event of sseEvents(textChunks(resumed.body!))) {
      rest.push(Number(event.id));
      if (event.event === 'finished') break;
    }
    expect(rest).toEqual(ids.slice(3));
  });

  it('MCP: the SDK client gets progress notifications before a result that names the open port', async () => {
    const transport = new StreamableHTTPClientTransport(new URL(`${stack.url}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    });
    const client = new Client({ name: 'e2e-agent', version: '1.0.0' });
    await client.connect(transport);
    try {
      const progress: Array<{ progress: number; message?: string; at: number }> = [];
      const result = await client.callTool(
        {
          name: 'nmap_scan',
          arguments: {
            target: '127.0.0.1',
            args: `-sT -sV -p ${banner.port()},1-30 --scan-delay 100ms --max-retries 0`,
          },
        },
        undefined,
        { onprogress: (p) => progress.push({ ...p, at: Date.now() }), timeout: 60_000 },
      );
      const resultAt = Date.now();
      expect(result.isError).toBeFalsy();
      expect(progress.length).toBeGreaterThan(0);
      expect(progress[0]!.at).toBeLessThan(resultAt);
      const text = (result.content as Array<{ text: string }>)[0]!.text;
      expect(text).toMatch(new RegExp(`127\\.0\\.0\\.1 ${banner.port()}/tcp ssh OpenSSH`));
      const structured = result.structuredContent as {
        scanId: string;
        openPorts: Array<{ port: number; service: string }>;
      };
      expect(structured.openPorts).toContainEqual(expect.objectContaining({ port: banner.port(), service: 'ssh' }));
      // The same scan is visible through get_scan and through REST: one code path.
      const got = await client.callTool({
        name: 'get_scan',
        arguments: { scanId: structured.scanId, outputTail: 2000 },
      });
      expect((got.content as Array<{ text: string }>)[0]!.text).toMatch(/Nmap done/);
      expect((await stack.api(token, 'GET', `/v1/scans/${structured.scanId}`)).body.scan.status).toBe('succeeded');
      // A refusal is an isError result with the taxonomy, not a crash.
      const refused = await client.callTool({
        name: 'nmap_scan',
        arguments: { target: '127.0.0.1', args: '-oN /tmp/x' },
      });
      expect(refused.isError).toBe(true);
      expect(refused._meta?.['scangate/error']).toMatchObject({ type: 'validation_error' });
      expect(refused.structuredContent).toBeUndefined();
    } finally {
      await client.close();
    }
  });

  it('CLI: `scangate scan` ends with a table holding the open port; errors print the message and the fix', async () => {
    const run = promisify(execFile);
    const cli = join(ROOT, 'scripts', 'scangate.ts');
    const env = { ...process.env, SCANGATE_URL: stack.url, SCANGATE_TOKEN: token };
    const { stdout } = await run(
      process.execPath,
      [cli, 'scan', '127.0.0.1', '--args', `-sT -sV -p ${banner.port()}`],
      { env, cwd: stack.dir },
    );
    expect(stdout).toMatch(/scan scan_\S+: succeeded/);
    expect(stdout).toMatch(new RegExp(`127\\.0\\.0\\.1\\s+${banner.port()}/tcp\\s+open\\s+ssh\\s+OpenSSH 9\\.2p1`));
    const id = stdout.match(/scan (scan_\S+):/)![1]!;

    const json = JSON.parse((await run(process.execPath, [cli, 'get', id, '--json'], { env, cwd: stack.dir })).stdout);
    expect(json).toMatchObject({ id, status: 'succeeded' });
    expect((await run(process.execPath, [cli, 'list'], { env, cwd: stack.dir })).stdout).toContain(id);

    const refused = await run(process.execPath, [cli, 'scan', '127.0.0.1', '--args', '-iL /etc/passwd'], {
      env,
      cwd: stack.dir,
    }).catch((e) => e);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/error \(validation_error\): -iL/);
    expect(refused.stderr).toMatch(/what to do: /);

    const admin = { ...env, SCANGATE_TOKEN: stack.admin };
    const ungranted = await run(process.execPath, [cli, 'tokens', 'create', '--role', 'runner', '--name', 'cli-made'], {
      env: admin,
      cwd: stack.dir,
    }).catch((e) => e);
    expect(ungranted.code).toBe(2);
    expect(ungranted.stderr).toMatch(/needs the networks it may serve: --network/);
    const minted = await run(
      process.execPath,
      [cli, 'tokens', 'create', '--role', 'runner', '--name', 'cli-made', '--network', '127.9.0.0/16'],
      { env: admin, cwd: stack.dir },
    );
    expect(minted.stdout).toMatch(/runner token cli-made \(rn_\S+\); shown once/);
    const runners = await run(process.execPath, [cli, 'runners'], { env: admin, cwd: stack.dir });
    expect(runners.stdout).toMatch(/e2e-local\s+rn_\S+\s+online/);
    const forbidden = await run(process.execPath, [cli, 'breakers'], { env, cwd: stack.dir }).catch((e) => e);
    expect(forbidden.stderr).toMatch(/error \(forbidden\)/);
  });

  it('200 concurrent malformed or unauthorised requests all get a 4xx JSON error; the stack still scans after', async () => {
    const runnerToken = (await stack.mintRunner('storm-runner')).token;
    const junk: Array<() => Promise<Response>> = [
      () => fetch(`${stack.url}/v1/scans`, { method: 'POST', body: '{"target":' }),
      () => fetch(`${stack.url}/v1/scans`, { method: 'POST', headers: { authorization: 'Bearer nope' }, body: '{}' }),
      () =>
        fetch(`${stack.url}/v1/scans`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: '{"target":',
        }),
      () =>
        fetch(`${stack.url}/v1/scans`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ target: 42 }),
        }),
      () =>
        fetch(`${stack.url}/v1/scans`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ target: '127.0.0.1; rm -rf /' }),
        }),
      () =>
        fetch(`${stack.url}/v1/validate`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ target: '127.0.0.1', args: '--script=/etc/passwd' }),
        }),
      () =>
        fetch(`${stack.url}/v1/scans`, {
          method: 'POST',
          headers: { authorization: `Bearer ${runnerToken}`, 'content-type': 'application/json' },
          body: JSON.stringify({ target: '127.0.0.1' }),
        }),
      () => fetch(`${stack.url}/v1/policy`, { headers: { authorization: `Bearer ${token}` } }),
      () => fetch(`${stack.url}/v1/scans/scan_doesnotexist`, { headers: { authorization: `Bearer ${token}` } }),
      () => fetch(`${stack.url}/v1/scans/../../etc/passwd`, { headers: { authorization: `Bearer ${token}` } }),
      () => fetch(`${stack.url}/v1/runners/connect`, { headers: { authorization: `Bearer ${token}` } }),
      () =>
        fetch(`${stack.url}/v1/scans`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ target: Array.from({ length: 300 }, () => '127.0.0.1') }),
        }),
      () => fetch(`${stack.url}/v1/nothing-here`, { headers: { authorization: `Bearer ${token}` } }),
    ];
    const answers = await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        const res = await junk[i % junk.length]!();
        const text = await res.text();
        return { i, status: res.status, text };
      }),
    );
    for (const a of answers) {
      expect(a.status, `request ${a.i % junk.length}: ${a.text.slice(0, 200)}`).toBeGreaterThanOrEqual(400);
      expect(a.status, `request ${a.i % junk.length}: ${a.text.slice(0, 200)}`).toBeLessThan(500);
      const body = JSON.parse(a.text);
      expect(body.error, a.text).toMatchObject({
        type: expect.any(String),
        message: expect.any(String),
        recoverySuggestion: expect.any(String),
      });
    }
    const fresh = await stack.mintToken('scan', 'after-the-storm');
    const after = await stack.api(fresh, 'POST', '/v1/scans', {
      target: '127.0.0.1',
      args: `-sT -p ${banner.port()}`,
      wait: 60,
    });
    expect(after.body.scan.status).toBe('succeeded');
  });
});
