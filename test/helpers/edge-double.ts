import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  EDGE_FEATURES,
  encodeEdgeFrame,
  finishedAckSeq,
  parseRunnerFrame,
  PING_FRAME,
  PONG_FRAME,
  type EdgeMessage,
  type Hello,
  type JobDispatch,
  type RunnerMessage,
} from '../../shared/protocol/index.ts';
import type { RunnerSelf } from '../../shared/protocol/runner-self.ts';

/**
 * A TEST DOUBLE of the edge's runner endpoint (named as such): a local `ws` server on 127.0.0.1 that speaks
 * the real protocol with the shared schemas, so runner tests need no Worker. The real edge is tested
 * against the real runner elsewhere.
 */
export interface EdgeDoubleOptions {
  /** Tokens the endpoint accepts; any other gets HTTP 401 before the upgrade. */
  tokens?: string[];
  heartbeatSec?: number;
  /** Ack output and results as they arrive (default true). */
  autoAck?: boolean;
  /** Answer hello with this instead of a welcome. */
  onHello?: (hello: Hello, socket: WebSocket) => EdgeMessage | undefined;
  /** What GET /v1/runners/self answers an accepted token (see shared/protocol/runner-self.ts); fields override a default. */
  self?: Partial<RunnerSelf>;
  /** The loopback address to listen on (default 127.0.0.1). */
  host?: string;
  /** What the edge.features frame after a welcome announces (default this build's EDGE_FEATURES; null: no frame, as an older edge). */
  features?: readonly string[] | null;
}

export class EdgeDouble {
  readonly received: RunnerMessage[] = [];
  readonly hellos: Hello[] = [];
  readonly authorizations: string[] = [];
  connections = 0;
  /** GET /v1/runners/self requests answered (doctor's read-only check). */
  selfChecks = 0;
  refuseWithStatus: number | undefined;
  autoAck: boolean;
  #server: WebSocketServer;
  #http!: Server;
  #sockets = new Set<WebSocket>();
  #waiters: Array<() => void> = [];
  readonly #options: EdgeDoubleOptions;

  private constructor(server: WebSocketServer, options: EdgeDoubleOptions) {
    this.#server = server;
    this.#options = options;
    this.autoAck = options.autoAck ?? true;
    server.on('connection', (socket) => this.#accept(socket));
  }

  static async start(options: EdgeDoubleOptions = {}): Promise<EdgeDouble> {
    let double: EdgeDouble | undefined;
    const accepted = (auth: string) => !options.tokens || options.tokens.some((t) => auth === `Bearer ${t}`);
    // Plain requests: the runner self-check, as the edge answers it (JSON, the error taxonomy's shape).
    const http = createServer((req, res) => {
      const reply = (status: number, body: unknown) =>
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      if (req.url !== '/v1/runners/self')
        return reply(404, {
          error: { type: 'not_found', message: 'No such endpoint', recoverySuggestion: 'See the README.' },
        });
      double!.selfChecks++;
      if (!accepted(req.headers.authorization ?? ''))
        return reply(401, {
          error: {
            type: 'unauthorized',
            message: 'Missing or invalid bearer token',
            recoverySuggestion: 'Send a runner token.',
          },
        });
      const online = double!.#sockets.size > 0;
      const hello = double!.hellos.at(-1);
      reply(200, {
        runner: { id: 'rn_test', name: 'test-runner', pool: 'default' },
        grantedNetworks: ['127.0.0.0/8'],
        link: {
          online,
          lastSeen: null,
          declaredNetworks: hello?.networks ?? null,
          runnerVersion: hello?.runnerVersion ?? null,
          nmapVersion: hello?.nmapVersion ?? null,
          privileged: hello?.privileged ?? null,
        },
        breaker: 'CLOSED',
        edge: { protocols: [1], heartbeatSec: options.heartbeatSec ?? 30 },
        policy: { allowedNetworks: ['127.0.0.0/8'], allowIntrusive: false, allowEvasion: false },
        ...options.self,
      } satisfies RunnerSelf);
    });
    await new Promise<void>((resolve) => http.listen(0, options.host ?? '127.0.0.1', resolve));
    const server = new WebSocketServer({
      server: http,
      verifyClient: (info: { req: IncomingMessage }, done: (ok: boolean, code?: number) => void) => {
        const auth = info.req.headers.authorization ?? '';
        double!.authorizations.push(auth);
        if (double!.refuseWithStatus) return done(false, double!.refuseWithStatus);
        if (!accepted(auth)) return done(false, 401);
        done(true);
      },
    });
    double = new EdgeDouble(server, options);
    double.#http = http;
    return double;
  }

  get url(): string {
    const { address, port } = this.#http.address() as AddressInfo;
    return `ws://${address}:${port}`;
  }

  #accept(socket: WebSocket): void {
    this.connections++;
    this.#sockets.add(socket);
    socket.on('close', () => this.#sockets.delete(socket));
    socket.on('message', (data) => {
      const text = data.toString();
      if (text === PING_FRAME) return socket.send(PONG_FRAME);
      const parsed = parseRunnerFrame(text);
      if (!parsed.ok) throw new Error(`runner sent a malformed frame: ${parsed.problem}`);
      const message = parsed.message;
      this.received.push(message);
      if (message.type === 'hello') {
        this.hellos.push(message);
        const answer = this.#options.onHello?.(message, socket) ?? {
          type: 'welcome' as const,
          runnerId: 'rn_test',
          heartbeatSec: this.#options.heartbeatSec ?? 30,
        };
        socket.send(encodeEdgeFrame(answer));
        const features = this.#options.features === undefined ? EDGE_FEATURES : this.#options.features;
        if (answer.type === 'welcome' && features)
          socket.send(encodeEdgeFrame({ type: 'edge.features', features: [...features] }));
      } else if (this.autoAck && message.type === 'job.output') {
        socket.send(encodeEdgeFrame({ type: 'ack', jobId: message.jobId, seq: message.seq }));
      } else if (this.autoAck && message.type === 'job.finished') {
        socket.send(encodeEdgeFrame({ type: 'ack', jobId: message.jobId, seq: finishedAckSeq(message.lastSeq) }));
      }
      for (const wake of this.#waiters.splice(0)) wake();
    });
  }

  send(message: EdgeMessage): void {
    const frame = encodeEdgeFrame(message);
    for (const socket of this.#sockets) socket.send(frame);
  }

  dispatch(jobId: string, argv: string[], overrides: Partial<JobDispatch> = {}): void {
    this.send({
      type: 'job.dispatch',
      jobId,
      argv,
      timeoutSec: 120,
      policy: {
        allowedHostSuffixes: ['.lab.internal'],
        allowIntrusive: false,
        allowEvasion: false,
        maxHosts: 1024,
        maxTargets: 16,
        maxPortRanges: 100,
      },
      limits: { stdoutMaxBytes: 1 << 20, stderrMaxBytes: 1 << 18 },
      ...overrides,
    });
  }

  /** Cuts every link at once, as a network failure would (no close handshake). */
  dropAll(): void {
    for (const socket of this.#sockets) socket.terminate();
  }

  /** Resolves with the first received frame (from index `from`) that matches, or rejects after `ms`. */
  async waitFor<T extends RunnerMessage>(match: (m: RunnerMessage) => m is T, ms?: number, from?: number): Promise<T>;
  async waitFor(match: (m: RunnerMessage) => boolean, ms?: number, from?: number): Promise<RunnerMessage>;
  async waitFor(match: (m: RunnerMessage) => boolean, ms = 30_000, from = 0): Promise<RunnerMessage> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.received.slice(from).find(match);
      if (found) return found;
      if (Date.now() > deadline)
        throw new Error(`no matching frame in ${ms} ms; got ${this.received.map((m) => m.type).join(', ')}`);
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
  }

  /** Output of a job as the edge would store it: by seq, duplicates dropped. Also says how many were resent. */
  /** A job's output frames once each, by seq: the text of stdout and stderr, and nmap's XML apart. */
  outputOf(jobId: string): { text: string; xml: string; seqs: number[]; duplicates: number } {
    const bySeq = new Map<number, { stream: string; data: string }>();
    let duplicates = 0;
    for (const m of this.received) {
      if (m.type !== 'job.output' || m.jobId !== jobId) continue;
      if (bySeq.has(m.seq)) {
        duplicates++;
        if (bySeq.get(m.seq)!.data !== m.data) throw new Error(`seq ${m.seq} resent with different data`);
      } else bySeq.set(m.seq, { stream: m.stream, data: m.data });
    }
    const seqs = [...bySeq.keys()].sort((a, b) => a - b);
    const text = (xml: boolean) =>
      seqs
        .map((s) => bySeq.get(s)!)
        .filter((f) => (f.stream === 'xml') === xml)
        .map((f) => f.data)
        .join('');
    return { text: text(false), xml: text(true), seqs, duplicates };
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.terminate();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#http.closeAllConnections();
    await new Promise<void>((resolve) => this.#http.close(() => resolve()));
  }
}
