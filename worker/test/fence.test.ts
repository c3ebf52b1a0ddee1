import { SELF } from 'cloudflare:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CfWorkerJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/cfworker';
import { describe, expect, it, onTestFinished } from 'vitest';
import { finishedAckSeq, type EdgeMessage, type JobDispatch } from '../../shared/protocol/index.ts';
import { ADMIN, api, BASE, json, TestRunner } from './helpers/runner-client.ts';

/**
 * requireFence (policy): the edge sends scans only to runners whose hello says their kernel fence is enforced
 * (runner/fence.ts). In a pool of its own, so the policy change reaches no other test.
 */
const POOL = 'fenced-pool';
const NET = '127.77.0.0/16';
const isDispatch = (m: EdgeMessage): m is JobDispatch => m.type === 'job.dispatch';

async function tokenIn(name: string, role: 'scan' | 'admin'): Promise<string> {
  const res = await api('/v1/tokens', { method: 'POST', token: ADMIN, json: { name, role, pool: POOL } });
  expect(res.status).toBe(201);
  return (await json(res)).token as string;
}

async function runnerIn(
  name: string,
  fence: { enforced: boolean; detail: string },
  maxConcurrency = 2,
): Promise<TestRunner> {
  const res = await api('/v1/runners', { method: 'POST', token: ADMIN, json: { name, pool: POOL, networks: [NET] } });
  expect(res.status).toBe(201);
  const runner = await TestRunner.ready((await json(res)).token, { networks: [NET], fence, maxConcurrency });
  onTestFinished(() => runner.close());
  return runner;
}

describe('requireFence', () => {
  it('routes only to a fenced runner; with only unfenced ones it refuses, naming them and why', async () => {
    const set = await api(`/v1/policy?pool=${POOL}`, { method: 'PUT', token: ADMIN, json: { requireFence: true } });
    expect(set.status).toBe(200);
    expect((await json(set)).policy.requireFence).toBe(true);
    const scanToken = (
      await json(
        await api('/v1/tokens', {
          method: 'POST',
          token: ADMIN,
          json: { name: 'fence-scan', role: 'scan', pool: POOL },
        }),
      )
    ).token as string;
    const scan = (token = scanToken) =>
      api('/v1/scans', { method: 'POST', token, json: { target: '127.77.0.1', args: '-sT -p 22' } });

    const unfenced = await runnerIn('unfenced', { enforced: false, detail: 'not root and no CAP_NET_ADMIN' });
    const refused = await scan();
    expect((await json(refused)).error).toMatchObject({
      type: 'no_runner',
      message: expect.stringMatching(/requires a kernel fence \(requireFence\).*run unfenced \(unfenced\)/),
    });

    const fenced = await runnerIn('fenced', { enforced: true, detail: 'nftables, 1 network' }, 1);
    for (let i = 0; i < 3; i++) {
      const res = await scan();
      expect(res.status).toBe(202);
      const { scan: created } = await json(res);
      expect(created.status).toBe('dispatched');
      await fenced.next((m) => isDispatch(m) && m.jobId === created.id);
      fenced.send({ type: 'job.accepted', jobId: created.id });
      fenced.finish(created.id, ['done\n']);
      // The edge has stored the result (its slot is free again) once it acks the finish.
      await fenced.next((m) => m.type === 'ack' && m.jobId === created.id && m.seq === finishedAckSeq(1));
    }
    // The fenced runner busy (one long scan, its maxConcurrency): the next scan waits for it rather than go to the
    // free unfenced runner.
    const { scan: long } = await json(await scan());
    await fenced.next((m) => isDispatch(m) && m.jobId === long.id);
    const waiting = (await json(await scan())).scan;
    expect(waiting.status).toBe('queued');
    // The unfenced runner, free and as narrow, was never sent one.
    expect(unfenced.received.filter(isDispatch)).toEqual([]);

    // Turned off, the unfenced runner takes work again (another token's scan: this one holds its fair share).
    await api(`/v1/policy?pool=${POOL}`, { method: 'PUT', token: ADMIN, json: { requireFence: false } });
    const other = (
      await json(
        await api('/v1/tokens', {
          method: 'POST',
          token: ADMIN,
          json: { name: 'fence-scan-2', role: 'scan', pool: POOL },
        }),
      )
    ).token as string;
    const { scan: created } = await json(await scan(other));
    expect(created.status).toBe('dispatched');
    await unfenced.next((m) => isDispatch(m) && m.jobId === created.id);
  });

  it("GET /v1/runners, the dashboard runners table and MCP scanner_info show each runner's fence", async () => {
    await runnerIn('shown-fenced', { enforced: true, detail: 'nftables, 1 network' });
    await runnerIn('shown-unfenced', { enforced: false, detail: 'not root and no CAP_NET_ADMIN' });

    const listed = (await json(await api(`/v1/runners?pool=${POOL}`, { token: ADMIN }))).runners as Array<{
      name: string;
      fence: unknown;
    }>;
    expect(listed.find((r) => r.name === 'shown-fenced')?.fence).toEqual({
      enforced: true,
      detail: 'nftables, 1 network',
    });
    expect(listed.find((r) => r.name === 'shown-unfenced')?.fence).toEqual({
      enforced: false,
      detail: 'not root and no CAP_NET_ADMIN',
    });

    const login = await api('/dashboard/login', {
      method: 'POST',
      body: new URLSearchParams({ token: await tokenIn('fence-admin', 'admin') }),
      redirect: 'manual',
    });
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    const page = await (await api('/dashboard', { headers: { cookie } })).text();
    const row = (name: string) => new RegExp(`data-runner="${name}"[\\s\\S]*?</tr>`).exec(page)?.[0] ?? '';
    expect(row('shown-fenced')).toMatch(/data-fence="enforced">yes<div class="muted">nftables, 1 network<\/div>/);
    expect(row('shown-unfenced')).toMatch(
      /data-fence="unfenced">no<div class="muted">not root and no CAP_NET_ADMIN<\/div>/,
    );

    const transport = new StreamableHTTPClientTransport(new URL(`${BASE}/mcp`), {
      fetch: (url, init) => SELF.fetch(url, init),
      requestInit: { headers: { authorization: `Bearer ${await tokenIn('fence-agent', 'scan')}` } },
    });
    const client = new Client(
      { name: 'scangate-test', version: '1.0.0' },
      { jsonSchemaValidator: new CfWorkerJsonSchemaValidator() },
    );
    await client.connect(transport);
    onTestFinished(() => client.close());
    await client.listTools(); // so callTool checks structuredContent against the outputSchema
    const info = await client.callTool({ name: 'scanner_info', arguments: {} });
    const runners = (info.structuredContent as { runners: Array<{ name: string; fenced: boolean }> }).runners;
    expect(runners.find((r) => r.name === 'shown-fenced')).toMatchObject({
      fenced: true,
      fenceDetail: 'nftables, 1 network',
    });
    expect(runners.find((r) => r.name === 'shown-unfenced')).toMatchObject({ fenced: false });
    const text = (info.content as Array<{ text: string }>)[0]!.text;
    expect(text).toMatch(
      /Runner shown-fenced: online, 127\.77\.0\.0\/16, unprivileged, fenced \(nftables, 1 network\)/,
    );
    expect(text).toMatch(/Runner shown-unfenced: .*unfenced \(not root and no CAP_NET_ADMIN\)/);
  });
});
