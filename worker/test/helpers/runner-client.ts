import { SELF } from 'cloudflare:test';
import { onTestFinished } from 'vitest';
import {
  encodeRunnerFrame,
  parseEdgeFrame,
  PING_FRAME,
  PROTOCOL_VERSION,
  type EdgeMessage,
  type Hello,
  type RunnerMessage,
} from '../../../shared/protocol/index.ts';

/**
 * A test-side runner: a WebSocket client that speaks the real protocol (shared schemas) to the real Worker and
 * Coordinator inside workerd. It does not run nmap; what it sends is what a runner would send.
 */
export const BASE = 'https://scangate.test';
export const ADMIN = 'test-admin-token-0123456789abcdef';

export async function api(
  path: string,
  init: RequestInit & { token?: string; json?: unknown } = {},
): Promise<Response> {
  const headers = new Headers(init.headers);
  if (init.token) headers.set('authorization', `Bearer ${init.token}`);
  const withBody = init.json !== undefined && !['GET', 'HEAD', undefined].includes(init.method?.toUpperCase());
  if (withBody) headers.set('content-type', 'application/json');
  return SELF.fetch(`${BASE}${path}`, { ...init, headers, ...(withBody && { body: JSON.stringify(init.json) }) });
}

export async function json<T = Record<string, any>>(res: Response): Promise<T> {
  return (await res.json()) as T;
}

/** A runner token for `name`, granted `networks` (loopback by default). */
export async function mintRunner(
  name: string,
  networks: string[] = ['127.0.0.0/8'],
): Promise<{ id: string; token: string }> {
  const res = await api('/v1/runners', { method: 'POST', token: ADMIN, json: { name, networks } });
  if (res.status !== 201) throw new Error(`mint runner: ${res.status} ${await res.text()}`);
  return json(res);
}

export async function mintToken(role: 'scan' | 'admin', name = `${role}-token`): Promise<string> {
  const res = await api('/v1/tokens', { method: 'POST', token: ADMIN, json: { name, role } });
  if (res.status !== 201) throw new Error(`mint token: ${res.status} ${await res.text()}`);
  return (await json<{ token: string }>(res)).token;
}

export class TestRunner {
  readonly received: EdgeMessage[] = [];
  closed: { code: number; reason: string } | undefined;
  #ws: WebSocket;
  #waiters: Array<() => void> = [];

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.addEventListener('message', (event) => {
      const parsed = parseEdgeFrame(event.data);
      if (typeof event.data === 'string' && event.data.includes('"pong"'))
        this.received.push({ type: 'pong' } as never);
      else if (!parsed.ok) throw new Error(`edge sent a malformed frame: ${parsed.problem}`);
      else this.received.push(parsed.message);
      this.#wake();
    });
    ws.addEventListener('close', (event) => {
      this.closed = { code: event.code, reason: event.reason };
      this.#wake();
    });
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  /** Opens the link; resolves with the runner (or the refusal response when the upgrade is refused). */
  static async connect(token: string): Promise<TestRunner | Response> {
    const res = await SELF.fetch(`${BASE}/v1/runners/connect`, {
      headers: { upgrade: 'websocket', authorization: `Bearer ${token}` },
    });
    if (!res.webSocket) return res;
    res.webSocket.accept();
    return new TestRunner(res.webSocket);
  }

  /** Connects and completes hello/welcome. */
  static async ready(token: string, hello: Partial<Hello> = {}): Promise<TestRunner> {
    const runner = await TestRunner.connect(token);
    if (runner instanceof Response) throw new Error(`connect refused: ${runner.status} ${await runner.text()}`);
    runner.send({
      type: 'hello',
      protocol: PROTOCOL_VERSION,
      runnerVersion: '0.1.0',
      nmapVersion: '7.93',
      privileged: false,
      maxConcurrency: 2,
      networks: ['127.0.0.0/8'],
      resume: [],
      ...hello,
    });
    await runner.next((m) => m.type === 'welcome');
    return runner;
  }

  send(message: RunnerMessage): void {
    this.#ws.send(encodeRunnerFrame(message));
  }

  sendRaw(text: string): void {
    this.#ws.send(text);
  }

  ping(): void {
    this.#ws.send(PING_FRAME);
  }

  close(code = 1000): void {
    this.#ws.close(code, 'test');
  }

  /** The first message (at or after `from`) matching, waiting up to `ms`. */
  async next<T extends EdgeMessage>(match: (m: EdgeMessage) => m is T, ms?: number, from?: number): Promise<T>;
  async next(match: (m: EdgeMessage) => boolean, ms?: number, from?: number): Promise<EdgeMessage>;
  async next(match: (m: EdgeMessage) => boolean, ms = 5000, from = 0): Promise<EdgeMessage> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.received.slice(from).find(match);
      if (found) return found;
      if (Date.now() > deadline)
        throw new Error(`no matching frame in ${ms} ms; got ${JSON.stringify(this.received.map((m) => m.type))}`);
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }

  async closedWith(ms = 5000): Promise<{ code: number; reason: string }> {
    const deadline = Date.now() + ms;
    while (!this.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    if (!this.closed) throw new Error('socket did not close');
    return this.closed;
  }

  /** Sends job output and the result, as a runner that ran the job would. */
  finish(
    jobId: string,
    output: string[],
    result: Partial<Extract<RunnerMessage, { type: 'job.finished' }>> = {},
  ): void {
    output.forEach((data, i) => void this.send({ type: 'job.output', jobId, seq: i + 1, stream: 'stdout', data }));
    this.send({
      type: 'job.finished',
      jobId,
      lastSeq: output.length,
      exitCode: 0,
      signal: null,
      timedOut: false,
      cancelled: false,
      durationMs: 1000,
      truncated: { stdout: false, stderr: false },
      report: null,
      error: null,
      ...result,
    });
  }
}

/**
 * Connected test runners, each declaring a /16 of its own (127.<net>.0.0/16) so that no test routes to another
 * test's runner; `firstNet` keeps test files apart as well. Each runner is closed when its test ends.
 */
export function runnersOnOwnNets(name: string, firstNet: number) {
  let next = firstNet;
  return async function readyRunnerOnOwnNet(
    hello: Partial<Hello> = {},
  ): Promise<{ net: number; minted: { id: string; token: string }; runner: TestRunner }> {
    const net = next++;
    const minted = await mintRunner(`${name}-${net}`, [`127.${net}.0.0/16`]);
    const runner = await TestRunner.ready(minted.token, { networks: [`127.${net}.0.0/16`], ...hello });
    onTestFinished(() => runner.close());
    return { net, minted, runner };
  };
}

/** Logs in to the dashboard with `token`: the session cookie, and the page's CSRF token for its forms. */
export async function dashboardLogin(token: string): Promise<{ cookie: string; csrf: string }> {
  const res = await api('/dashboard/login', {
    method: 'POST',
    body: new URLSearchParams({ token }),
    redirect: 'manual',
  });
  if (res.status !== 303) throw new Error(`dashboard login: ${res.status} ${await res.text()}`);
  const cookie = res.headers.get('set-cookie')!.split(';')[0]!;
  const page = await (await api('/dashboard', { headers: { cookie } })).text();
  return { cookie, csrf: /name="csrf-token" content="([^"]+)"/.exec(page)![1]! };
}
