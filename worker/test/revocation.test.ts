import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { EdgeMessage, JobDispatch } from '../../shared/protocol/index.ts';
import { ADMIN, api, BASE, json, runnersOnOwnNets } from './helpers/runner-client.ts';

/**
 * A revoked token reads nothing more: its open scan event streams and its dashboard stream end at once, and its
 * next MCP task poll is refused. Streams opened by other tokens on the same scan and pool go on.
 */
const newRunner = runnersOnOwnNets('revocation-runner', 170);
const isDispatch = (m: EdgeMessage): m is JobDispatch => m.type === 'job.dispatch';
const decoder = new TextDecoder();

async function mint(role: 'scan' | 'admin', name: string): Promise<{ id: string; token: string }> {
  return json(await api('/v1/tokens', { method: 'POST', token: ADMIN, json: { name, role } }));
}

/** Reads an SSE body until `pattern` shows up; returns everything read. */
async function readUntil(reader: ReadableStreamDefaultReader<Uint8Array>, pattern: RegExp): Promise<string> {
  let text = '';
  while (!pattern.test(text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`stream ended before ${pattern}: ${text}`);
    text += decoder.decode(value);
  }
  return text;
}

/** Reads an SSE body to its end; resolves with what came after the call. */
async function readToEnd(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<string> {
  let text = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return text;
    text += decoder.decode(value);
  }
}

describe('revocation ends what a token holds open', () => {
  it("closes the revoked token's scan event stream at once; another token's stream on the same scan goes on", async () => {
    const { net, runner } = await newRunner();
    const victim = await mint('scan', `revoked-reader-${net}`);
    const created = await json(
      await api('/v1/scans', {
        method: 'POST',
        token: victim.token,
        json: { target: `127.${net}.0.1`, args: '-sT -p 22' },
      }),
    );
    const jobId = created.scan.id;
    await runner.next((m) => isDispatch(m) && m.jobId === jobId);

    const mine = (await api(`/v1/scans/${jobId}/events`, { token: victim.token })).body!.getReader();
    const admins = (await api(`/v1/scans/${jobId}/events`, { token: ADMIN })).body!.getReader();
    await readUntil(mine, /event: dispatched/);
    await readUntil(admins, /event: dispatched/);

    const revoked = await api(`/v1/tokens/${victim.id}`, { method: 'DELETE', token: ADMIN });
    expect(revoked.status).toBe(200);
    // The victim's stream ends (without the scan having ended), and its token is refused from now on.
    expect(await readToEnd(mine)).not.toMatch(/event: finished/);
    expect((await api(`/v1/scans/${jobId}`, { token: victim.token })).status).toBe(401);
    // The admin's stream on the same scan still gets what comes next.
    runner.send({ type: 'job.output', jobId, seq: 1, stream: 'stdout', data: 'after revocation\n' });
    expect(await readUntil(admins, /after revocation/)).toMatch(/event: output/);
    await admins.cancel();
  });

  it("closes a revoked admin's dashboard stream; another admin's dashboard stays live", async () => {
    const victim = await mint('admin', 'revoked-dashboard-admin');
    const other = await mint('admin', 'other-dashboard-admin');
    const login = async (token: string) => {
      const res = await SELF.fetch(`${BASE}/dashboard/login`, {
        method: 'POST',
        body: new URLSearchParams({ token }),
        redirect: 'manual',
      });
      return res.headers.get('set-cookie')!.split(';')[0]!;
    };
    const victimCookie = await login(victim.token);
    const otherCookie = await login(other.token);
    const open = async (cookie: string) =>
      (await SELF.fetch(`${BASE}/dashboard/events`, { headers: { cookie } })).body!.getReader();
    const victimStream = await open(victimCookie);
    const otherStream = await open(otherCookie);
    await readUntil(victimStream, /data:/);
    await readUntil(otherStream, /data:/);

    expect((await api(`/v1/tokens/${victim.id}`, { method: 'DELETE', token: ADMIN })).status).toBe(200);
    await readToEnd(victimStream);
    expect((await SELF.fetch(`${BASE}/dashboard/events`, { headers: { cookie: victimCookie } })).status).toBe(401);
    // The other admin's dashboard still gets a frame when something changes.
    await api('/v1/runners', {
      method: 'POST',
      token: ADMIN,
      json: { name: 'appears-after-revocation', networks: ['127.0.0.0/8'] },
    });
    expect(await readUntil(otherStream, /appears-after-revocation/)).toMatch(/data:/);
    await otherStream.cancel();
  });

  it("refuses the revoked token's next MCP task poll", async () => {
    const victim = await mint('scan', 'revoked-mcp');
    const call = (body: unknown) =>
      SELF.fetch(`${BASE}/mcp`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${victim.token}`,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-protocol-version': '2025-11-25',
        },
        body: JSON.stringify(body),
      });
    expect((await call({ jsonrpc: '2.0', id: 1, method: 'tasks/list', params: {} })).status).toBe(200);
    expect((await api(`/v1/tokens/${victim.id}`, { method: 'DELETE', token: ADMIN })).status).toBe(200);
    const after = await call({ jsonrpc: '2.0', id: 2, method: 'tasks/list', params: {} });
    expect(after.status).toBe(401);
  });
});
