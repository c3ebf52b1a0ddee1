/**
 * The real stack as a harness for end-to-end tests and benchmarks: `wrangler dev` (the real Worker and Durable
 * Objects), real runner daemons and real nmap, on free loopback ports with state in a temp dir, torn down with
 * every process it started. Scans go to 127.0.0.0/8 only. No test framework in here (benchmarks use it too).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, Socket, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startEdge, startRunner, type Edge, type Proc, type RunnerOptions } from '../../scripts/stack.ts';

export interface ApiAnswer<T = any> {
  status: number;
  headers: Headers;
  body: T;
}

export class Stack {
  readonly admin = `e2e-admin-${randomBytes(16).toString('hex')}`;
  readonly dir = mkdtempSync(join(tmpdir(), 'scangate-e2e-'));
  readonly procs = new Set<Proc>();
  edge!: Edge;
  port = 0;
  readonly #vars: Record<string, string>;
  /** Set before start() to profile the Worker and Durable Objects through DevTools. */
  inspectorPort: number | undefined;

  constructor(vars: Record<string, string>) {
    this.#vars = vars;
  }

  get url(): string {
    return this.edge.url;
  }

  get wsUrl(): string {
    return this.edge.url.replace(/^http/, 'ws');
  }

  async start(): Promise<void> {
    this.port ||= await freePort();
    const envFile = join(this.dir, 'secrets.env');
    writeFileSync(envFile, `ADMIN_TOKEN=${this.admin}\n`, { mode: 0o600 });
    this.edge = await startEdge({
      port: this.port,
      persistTo: join(this.dir, 'state'),
      vars: this.#vars,
      envFile,
      ...(this.inspectorPort && { inspectorPort: this.inspectorPort }),
    });
  }

  /** Stops wrangler dev (SIGTERM to its group) and starts it again on the same port with the same state. */
  async restartEdge(): Promise<void> {
    await this.edge.proc.stop('SIGTERM', 5000);
    await this.start();
  }

  async api<T = any>(token: string | undefined, method: string, path: string, body?: unknown): Promise<ApiAnswer<T>> {
    const res = await fetch(`${this.url}${path}`, {
      method,
      headers: {
        ...(token && { authorization: `Bearer ${token}` }),
        ...(body !== undefined && { 'content-type': 'application/json' }),
      },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON: kept as text, and tests that expect JSON fail on it
    }
    return { status: res.status, headers: res.headers, body: parsed as T };
  }

  async mintRunner(
    name: string,
    networks: string[] = ['127.0.0.0/8'],
  ): Promise<{ id: string; token: string; tokenFile: string }> {
    const res = await this.api(this.admin, 'POST', '/v1/runners', { name, networks });
    if (res.status !== 201) throw new Error(`mint runner: ${res.status} ${JSON.stringify(res.body)}`);
    const tokenFile = join(this.dir, `${name}.token`);
    writeFileSync(tokenFile, `${res.body.token}\n`, { mode: 0o600 });
    return { id: res.body.id, token: res.body.token, tokenFile };
  }

  async mintToken(role: 'scan' | 'admin', name = `${role}-${randomBytes(3).toString('hex')}`): Promise<string> {
    const res = await this.api(this.admin, 'POST', '/v1/tokens', { name, role });
    if (res.status !== 201) throw new Error(`mint token: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body.token;
  }

  /** A real runner daemon; progress every second so tests see it. Stopped with the stack. */
  runner(options: Omit<RunnerOptions, 'server'> & { server?: string }): Proc {
    const proc = startRunner({
      server: this.wsUrl,
      ...options,
      env: { ...process.env, SCANGATE_STATS_EVERY: '1s', ...options.env },
    });
    this.procs.add(proc);
    return proc;
  }

  /** A runner that is connected (its link is ready) before this resolves. */
  async readyRunner(
    name: string,
    options: Partial<RunnerOptions> = {},
  ): Promise<{ proc: Proc; id: string; token: string; tokenFile: string }> {
    const networks = options.networks ?? ['127.0.0.0/8'];
    const minted = await this.mintRunner(name, networks);
    const proc = this.runner({ tokenFile: minted.tokenFile, ...options, networks });
    await proc.waitFor(/"event":"link\.ready"/, 20_000);
    return { proc, ...minted };
  }

  /** Polls GET /v1/scans/:id until `done` holds or `timeoutMs` passes. */
  async waitForScan(token: string, id: string, done: (scan: any) => boolean, timeoutMs = 30_000): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { body } = await this.api(token, 'GET', `/v1/scans/${id}`);
      if (done(body.scan)) return body.scan;
      if (Date.now() > deadline)
        throw new Error(
          `scan ${id} did not get there in ${timeoutMs} ms: ${JSON.stringify(body.scan ?? body).slice(0, 2000)}`,
        );
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  async stop(): Promise<void> {
    await Promise.all([...this.procs].map((p) => p.stop('SIGKILL', 1000)));
    await this.edge?.proc.stop('SIGTERM', 5000);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A TCP relay on loopback between runners and the edge, so a test can cut the link (every connection dropped,
 * new ones refused) and heal it, without touching either end.
 */
export class LinkRelay {
  port = 0;
  #server: Server | undefined;
  #sockets = new Set<Socket>();
  #cut = false;
  readonly #target: number;

  constructor(targetPort: number) {
    this.#target = targetPort;
  }

  async start(): Promise<void> {
    this.#server = createServer((client) => {
      if (this.#cut) return client.destroy();
      const upstream = new Socket();
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on('error', () => {});
        s.on('close', () => {
          this.#sockets.delete(s);
          client.destroy();
          upstream.destroy();
        });
      }
      upstream.connect(this.#target, '127.0.0.1');
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve) => this.#server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.#server!.address() as { port: number }).port;
  }

  cut(): void {
    this.#cut = true;
    for (const s of this.#sockets) s.destroy();
  }

  heal(): void {
    this.#cut = false;
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.#server?.close(() => resolve()) ?? resolve());
  }
}

/** Whether a process is gone (or a zombie no one has reaped yet: it runs nothing). */
export function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  try {
    const stat = readStat(pid);
    return stat === 'Z' || stat === 'X';
  } catch {
    return true;
  }
}

function readStat(pid: number): string {
  // /proc/<pid>/stat: "pid (comm) S …"; comm may hold spaces and parentheses, so split at the last ')'.
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return text.slice(text.lastIndexOf(')') + 2, text.lastIndexOf(')') + 3);
}
