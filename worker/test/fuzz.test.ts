import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { ERROR_TYPES } from '../../shared/errors/index.ts';
import type { EdgeMessage, JobDispatch } from '../../shared/protocol/index.ts';
import { mcpCases, restCases, type FuzzCase, type FuzzTokens } from './helpers/fuzz-cases.ts';
import { ADMIN, api, BASE, json, mintRunner, mintToken, runnersOnOwnNets } from './helpers/runner-client.ts';

/**
 * Malformed requests on every route and malformed MCP messages (worker/test/helpers/fuzz-cases.ts: fixed seeds, fixed
 * counts, a few seconds): none gets a 5xx, every refusal carries the error taxonomy (REST) or is a JSON-RPC error or
 * a tool error result (MCP), and afterwards another token's scan still goes out and the audit log still reads.
 * Issue 12 measured "0 5xx in 199 malformed requests and 45 malformed MCP messages"; this keeps it so.
 */
const newRunner = runnersOnOwnNets('fuzz-runner', 254);
const isDispatch = (m: EdgeMessage): m is JobDispatch => m.type === 'job.dispatch';
/** The address the fuzz logs in from, so its failures fill no throttle bucket another test logs in from. */
const FUZZ_ADDRESS = '198.51.100.12';

interface Answer {
  status: number;
  contentType: string;
  text: string;
}

async function send(c: FuzzCase): Promise<Answer> {
  const res = await SELF.fetch(`${BASE}${c.path}`, {
    method: c.method,
    headers: { 'cf-connecting-ip': FUZZ_ADDRESS, ...c.headers },
    ...(c.body !== undefined && { body: c.body }),
    redirect: 'manual',
  });
  const contentType = res.headers.get('content-type') ?? '';
  // A stream that opened (an event stream) is not read to its end: only refusals are read.
  if (res.status < 400 && contentType.startsWith('text/event-stream') && !c.path.startsWith('/mcp')) {
    await res.body?.cancel();
    return { status: res.status, contentType, text: '' };
  }
  return { status: res.status, contentType, text: await res.text() };
}

/** The one shape of a REST error: `{ error: { type, message, recoverySuggestion } }`, a known type, words in each. */
function taxonomyProblem(text: string): string | undefined {
  let body: any;
  try {
    body = JSON.parse(text);
  } catch {
    return `not JSON: ${text.slice(0, 120)}`;
  }
  const e = body?.error;
  if (!ERROR_TYPES.includes(e?.type)) return `no known error.type: ${text.slice(0, 200)}`;
  if (typeof e.message !== 'string' || e.message.length < 5) return `no message: ${text.slice(0, 200)}`;
  if (typeof e.recoverySuggestion !== 'string' || e.recoverySuggestion.length < 5)
    return `no recoverySuggestion: ${text.slice(0, 200)}`;
  return undefined;
}

/** The JSON-RPC messages of an MCP answer (a JSON body, or the data lines of an SSE one). */
function rpcMessages(answer: Answer): any[] {
  if (answer.contentType.startsWith('text/event-stream')) {
    return answer.text
      .split('\n')
      .filter((l) => l.startsWith('data: '))
      .map((l) => JSON.parse(l.slice(6)));
  }
  return answer.text ? [JSON.parse(answer.text)] : [];
}

/**
 * How an MCP answer refuses: a JSON-RPC error, a tool error result, the taxonomy (the Worker's body limit), or 202
 * with nothing (a JSON-RPC response nobody asked for is ignored, as the transport spec says); else why it is none.
 */
function mcpRefusal(answer: Answer): { kind: 'jsonrpc' | 'tool' | 'taxonomy' | 'ignored' } | { problem: string } {
  if (answer.status === 202 && answer.text === '') return { kind: 'ignored' };
  if (answer.status >= 400 && !taxonomyProblem(answer.text) && !JSON.parse(answer.text).jsonrpc)
    return { kind: 'taxonomy' };
  let messages: any[];
  try {
    messages = rpcMessages(answer);
  } catch {
    return { problem: `not JSON-RPC: ${answer.text.slice(0, 200)}` };
  }
  const [message] = messages;
  if (messages.length !== 1) return { problem: `${messages.length} messages: ${answer.text.slice(0, 200)}` };
  if (message.jsonrpc !== '2.0') return { problem: `not JSON-RPC 2.0: ${answer.text.slice(0, 200)}` };
  if (message.error) {
    return typeof message.error.code === 'number' &&
      typeof message.error.message === 'string' &&
      message.error.message.length > 0
      ? { kind: 'jsonrpc' }
      : { problem: `malformed JSON-RPC error: ${answer.text.slice(0, 200)}` };
  }
  const text = ((message.result?.content ?? []) as Array<{ text?: string }>).map((c) => c.text ?? '').join('\n');
  if (message.result?.isError === true && text.length > 10) return { kind: 'tool' };
  return { problem: `not a refusal (${answer.status}): ${answer.text.slice(0, 200)}` };
}

/**
 * Malformed requests that may still succeed, by case name: odd headers beside a valid token change nothing, logging
 * out or opening a scan page without a session is a redirect to the login page, `null` as a policy change is no change, and an admin token of another pool
 * reads the default pool until admin tokens are scoped to their pool (issue 12; refused after that, also fine).
 */
const MAY_SUCCEED = [
  /: a header of 16 KiB and 60 junk headers$/,
  /^POST \/dashboard\/logout: /,
  /^\/dashboard\/logout: /,
  /^GET \/dashboard\/scans\/\{id\}: .*no session$/,
  /^PUT \/v1\/policy\?pool=fuzz-pool: JSON null$/,
  /: admin token of another pool$/,
];

async function fuzzTokens(): Promise<FuzzTokens> {
  const poolAdmin = await api('/v1/tokens', {
    method: 'POST',
    token: ADMIN,
    json: { name: 'fuzz pool admin', role: 'admin', pool: 'fuzz-pool' },
  });
  return {
    admin: ADMIN,
    scan: await mintToken('scan', 'fuzz-scan'),
    poolAdmin: (await json<{ token: string }>(poolAdmin)).token,
    runner: (await mintRunner('fuzz-runner-token', ['127.253.0.0/16'])).token,
  };
}

describe('fuzzing every surface with malformed requests', () => {
  it("never answers 5xx, refuses in the taxonomy's shape, and leaves the service working for others", async () => {
    const tokens = await fuzzTokens();
    const rest = restCases(tokens);
    const mcp = mcpCases(tokens);
    expect(rest.length).toBeGreaterThanOrEqual(200);
    expect(mcp.length).toBeGreaterThanOrEqual(50);

    const serverErrors: string[] = [];
    const misshapen: string[] = [];
    const accepted: string[] = [];
    for (const c of rest) {
      const answer = await send(c);
      if (answer.status >= 500) serverErrors.push(`${c.name}: ${answer.status} ${answer.text.slice(0, 200)}`);
      else if (answer.status >= 400) {
        // The dashboard's login page is HTML: the one refusal a browser reads rather than a client.
        const problem =
          answer.contentType.startsWith('text/html') && c.path.startsWith('/dashboard')
            ? undefined
            : taxonomyProblem(answer.text);
        if (problem) misshapen.push(`${c.name}: ${answer.status} ${problem}`);
      } else if (!MAY_SUCCEED.some((m) => m.test(c.name))) accepted.push(`${c.name}: ${answer.status}`);
    }
    const mcpKinds = new Map<string, number>();
    for (const c of mcp) {
      const answer = await send(c);
      if (answer.status >= 500) {
        serverErrors.push(`${c.name}: ${answer.status} ${answer.text.slice(0, 200)}`);
        continue;
      }
      const refusal = mcpRefusal(answer);
      if ('problem' in refusal) misshapen.push(`${c.name}: ${refusal.problem}`);
      else mcpKinds.set(refusal.kind, (mcpKinds.get(refusal.kind) ?? 0) + 1);
    }
    expect(serverErrors).toEqual([]);
    expect(misshapen).toEqual([]);
    expect(accepted).toEqual([]);
    // Each kind of MCP refusal was exercised.
    expect([...mcpKinds.keys()].sort()).toEqual(['ignored', 'jsonrpc', 'taxonomy', 'tool']);

    // Another token's scan still goes out, runs and reads back.
    const { net, runner } = await newRunner();
    const other = await mintToken('scan', `fuzz-bystander-${net}`);
    const created = await api('/v1/scans', {
      method: 'POST',
      token: other,
      json: { target: `127.${net}.0.1`, args: '-sT -p 22' },
    });
    expect(created.status, await created.clone().text()).toBe(202);
    const dispatch = await runner.next(isDispatch);
    runner.finish(dispatch.jobId, ['Nmap scan report for 127.0.0.1\n']);
    for (;;) {
      const scan = (await json(await api(`/v1/scans/${dispatch.jobId}`, { token: other }))).scan;
      if (scan.status === 'succeeded') break;
      expect(scan.status).toMatch(/^(dispatched|running)$/);
      await new Promise((r) => setTimeout(r, 50));
    }
    const audit = await api('/v1/audit?limit=20', { token: ADMIN });
    expect(audit.status).toBe(200);
    expect((await json(audit)).entries.length).toBeGreaterThan(0);
  });

  it('refuses a policy body nested 5,000 deep as a validation_error (it would overflow the RPC serialiser)', async () => {
    for (const body of [`${'['.repeat(5000)}${']'.repeat(5000)}`, `${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}`]) {
      const res = await send({
        name: 'deep policy',
        method: 'PUT',
        path: '/v1/policy?pool=fuzz-pool',
        headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
        body,
      });
      expect(res.status, res.text.slice(0, 200)).toBeLessThan(500);
      expect(taxonomyProblem(res.text)).toBeUndefined();
    }
  });
});
