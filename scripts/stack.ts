/**
 * The local stack's moving parts as child processes: `wrangler dev` (the real Worker and Durable Objects in
 * workerd, state on disk) and runner daemons (the real `runner/main.ts`). Used by `npm start` and by the
 * end-to-end tests, so both run the product the same way. Loopback only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..');
const WRANGLER = join(ROOT, 'node_modules', 'wrangler', 'bin', 'wrangler.js');
const RUNNER = join(ROOT, 'runner', 'main.ts');

/** A free TCP port on 127.0.0.1 (the OS picks it; it is released before use, so there is a small race). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

/** A child process with its output kept (bounded) for error messages, stopped with its whole process group. */
export class Proc {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #log = '';
  #listeners = new Set<(text: string) => void>();

  constructor(
    command: string,
    args: string[],
    options: { env?: NodeJS.ProcessEnv; cwd?: string; echo?: (text: string) => void } = {},
  ) {
    this.child = spawn(command, args, {
      cwd: options.cwd ?? ROOT,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const take = (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      this.#log = (this.#log + text).slice(-64 * 1024);
      options.echo?.(text);
      for (const listener of this.#listeners) listener(text);
    };
    this.child.stdout!.on('data', take);
    this.child.stderr!.on('data', take);
    this.exited = once(this.child, 'exit').then(([code, signal]) => ({
      code: code as number | null,
      signal: signal as NodeJS.Signals | null,
    }));
  }

  get pid(): number {
    return this.child.pid!;
  }

  get log(): string {
    return this.#log;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves when the output (so far or to come) matches `pattern`; rejects on exit or after `timeoutMs`. */
  async waitFor(pattern: RegExp, timeoutMs = 15_000): Promise<string> {
    const seen = () => this.#log.match(pattern)?.[0];
    if (seen()) return seen()!;
    return new Promise((resolve, reject) => {
      const done = (fn: () => void) => {
        clearTimeout(timer);
        this.#listeners.delete(listener);
        fn();
      };
      const listener = () => {
        const hit = seen();
        if (hit) done(() => resolve(hit));
      };
      const timer = setTimeout(
        () => done(() => reject(new Error(`timed out waiting for ${pattern}; output:\n${this.#log.slice(-4000)}`))),
        timeoutMs,
      );
      this.#listeners.add(listener);
      void this.exited.then(() =>
        done(() => reject(new Error(`exited before ${pattern}; output:\n${this.#log.slice(-4000)}`))),
      );
    });
  }

  /** Sends `signal` to the whole group, then SIGKILL after `graceMs`; resolves once the leader has exited. */
  async stop(
    signal: NodeJS.Signals = 'SIGTERM',
    graceMs = 10_000,
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const kill = (s: NodeJS.Signals) => {
      try {
        process.kill(-this.pid, s);
      } catch {
        // already gone
      }
    };
    if (this.running) kill(signal);
    const timer = setTimeout(() => kill('SIGKILL'), graceMs);
    const result = await this.exited;
    clearTimeout(timer);
    kill('SIGKILL'); // anything left in the group (workerd children of wrangler)
    return result;
  }
}

export interface EdgeOptions {
  port: number;
  /** Durable Object state directory (wrangler's --persist-to). */
  persistTo: string;
  /** Worker variables (LEASE_SEC, …) on the command line: nothing secret goes here, ps shows it. */
  vars?: Record<string, string>;
  /** A dotenv file with the Worker's secrets (ADMIN_TOKEN); else wrangler reads ./.dev.vars. */
  envFile?: string;
  /** The DevTools port of workerd (profiling); a free one by default. */
  inspectorPort?: number;
  echo?: (text: string) => void;
}

export interface Edge {
  url: string;
  proc: Proc;
}

/** Starts `wrangler dev` on 127.0.0.1 and resolves once `/health` answers. */
export async function startEdge(options: EdgeOptions): Promise<Edge> {
  const args = [
    WRANGLER,
    'dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(options.port),
    '--persist-to',
    options.persistTo,
    '--inspector-port',
    String(options.inspectorPort ?? (await freePort())),
    '--show-interactive-dev-session=false',
    '--log-level',
    'warn',
  ];
  for (const [key, value] of Object.entries(options.vars ?? {})) args.push('--var', `${key}:${value}`);
  if (options.envFile) args.push('--env-file', options.envFile);
  // Miniflare fetches workers.cloudflare.com/cf.json (a DNS query off the machine) unless told not to; the Worker
  // gets its fallback `cf` object instead, which is all a lab edge needs.
  const env = {
    ...process.env,
    WRANGLER_SEND_METRICS: 'false',
    CLOUDFLARE_CF_FETCH_ENABLED: 'false',
    NO_COLOR: '1',
    FORCE_COLOR: '0',
  };
  const proc = new Proc(process.execPath, args, { env, ...(options.echo && { echo: options.echo }) });
  const url = `http://127.0.0.1:${options.port}`;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (!proc.running)
      throw new Error(`wrangler dev exited (${JSON.stringify(await proc.exited)}):\n${proc.log.slice(-4000)}`);
    try {
      const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) });
      if (res.ok) return { url, proc };
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  await proc.stop('SIGKILL');
  throw new Error(`wrangler dev did not answer /health within 60 s:\n${proc.log.slice(-4000)}`);
}

export interface RunnerOptions {
  server: string;
  tokenFile: string;
  networks: string[];
  nmap?: string;
  maxConcurrency?: number;
  extraArgs?: string[];
  /** The runner program: runner/main.ts by default, or e.g. the one-file bundle lab hosts install. */
  script?: string;
  /** Options for node itself, before the script. */
  nodeArgs?: string[];
  env?: NodeJS.ProcessEnv;
  echo?: (text: string) => void;
}

/** Starts the real runner daemon (`node runner/main.ts run …`). */
export function startRunner(options: RunnerOptions): Proc {
  const args = [options.script ?? RUNNER, 'run', '--server', options.server, '--token-file', options.tokenFile];
  for (const network of options.networks) args.push('--network', network);
  if (options.nmap) args.push('--nmap', options.nmap);
  if (options.maxConcurrency) args.push('--max-concurrency', String(options.maxConcurrency));
  args.push(...(options.extraArgs ?? []));
  return new Proc(process.execPath, [...(options.nodeArgs ?? []), ...args], {
    env: options.env ?? process.env,
    ...(options.echo && { echo: options.echo }),
  });
}

/** A JSON request to the edge's API with a bearer token; throws with the error body unless the status is 2xx. */
export async function callApi<T>(url: string, token: string, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}
