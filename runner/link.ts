/**
 * The runner's side of the link. It dials out, says hello, and once welcomed keeps the connection alive with
 * heartbeats; when it drops it dials again with backoff. Frames from the edge go to the jobs they name
 * (job.ts runs each one); frames to the edge go out only while the link is ready, since every job keeps what it
 * owes until acked and resends it after each welcome. The edge's fatal error codes become the process's exit code.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import WebSocket from 'ws';
import {
  encodeRunnerFrame,
  MAX_FRAME_BYTES,
  parseEdgeFrame,
  PING_FRAME,
  PONG_FRAME,
  PROTOCOL_VERSION,
  type EdgeMessage,
  type JobDispatch,
  type RunnerMessage,
} from '../shared/protocol/index.ts';
import { DEFAULT_BACKOFF, reconnectDelayMs, type BackoffOptions } from './backoff.ts';
import { EXIT } from './config.ts';
import { refuseDispatch, rejectJob, RunnerJob, type JobChannel, type JobOptions } from './job.ts';
import type { FenceStatus } from './fence.ts';
import { explainConnectError } from './messages.ts';
import type { Logger } from './log.ts';
import { RUNNER_VERSION } from '../shared/protocol/runner-version.ts';

/** Defined in shared/protocol/runner-version.ts, so the edge built from this tree knows it too. */
export { RUNNER_VERSION };
/** Jobs kept for resend; past this the oldest finished ones are dropped (and logged). */
const MAX_RETAINED_JOBS = 256;
const HANDSHAKE_TIMEOUT_MS = 10_000;
/** On shutdown, how long to wait for the edge to ack the last results before closing. */
const FLUSH_TIMEOUT_MS = 5000;

export interface LinkOptions extends JobOptions {
  log: Logger;
  nmapVersion: string | null;
  /** What the hello says of the kernel fence (fence.ts). */
  fenceStatus?: FenceStatus;
  backoff?: BackoffOptions;
}

/** One link for the life of the process: `run()` resolves with the process exit code. */
export class RunnerLink {
  readonly #o: LinkOptions;
  readonly #jobs = new Map<string, RunnerJob>();
  /** What every job is handed: frames out through this link, and the run log. */
  readonly #channel: JobChannel;
  #socket: WebSocket | undefined;
  #welcomed = false;
  /** What the edge last said it takes (EDGE_FEATURES); kept across reconnects, replaced by each announcement. */
  #edgeFeatures: ReadonlySet<string> = new Set();
  #attempt = 0;
  #draining = false;
  #stopped = false;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  #lastHeard = 0;
  #exit!: (code: number) => void;
  readonly #exited: Promise<number>;

  constructor(options: LinkOptions) {
    this.#o = options;
    this.#channel = {
      send: (frame) => this.#send(frame),
      log: options.log,
      edgeTakes: (feature) => this.#edgeFeatures.has(feature),
    };
    this.#exited = new Promise((resolve) => (this.#exit = resolve));
  }

  run(): Promise<number> {
    this.#connect();
    return this.#exited;
  }

  get runningJobs(): number {
    return [...this.#jobs.values()].filter((j) => j.running).length;
  }

  /**
   * SIGTERM: take no new jobs, let running ones finish within the grace period, then cancel them, wait for
   * their results, give the edge a moment to ack, close and exit 0.
   */
  async shutdown(): Promise<void> {
    if (this.#draining) return;
    this.#draining = true;
    const grace = this.#o.config.graceSec * 1000;
    this.#o.log.log('info', 'runner.draining', { running: this.runningJobs, graceSec: this.#o.config.graceSec });
    const deadline = Date.now() + grace;
    while (this.runningJobs > 0 && Date.now() < deadline) await sleep(100);
    for (const [jobId, job] of this.#jobs) {
      if (job.running) {
        this.#o.log.log('warn', 'job.cancelled_at_shutdown', { jobId });
        job.cancel();
      }
    }
    while (this.runningJobs > 0) await sleep(50);
    const flushBy = Date.now() + FLUSH_TIMEOUT_MS;
    while (this.#welcomed && [...this.#jobs.values()].some((j) => !j.settled) && Date.now() < flushBy) await sleep(50);
    this.#finish(EXIT.ok, 'shutdown');
  }

  #finish(code: number, why: string): void {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#heartbeat);
    clearTimeout(this.#reconnectTimer);
    for (const job of this.#jobs.values()) job.cancel();
    this.#socket?.close(1000, why);
    this.#o.log.log(code === EXIT.ok ? 'info' : 'error', 'runner.exit', { code, why });
    this.#exit(code);
  }

  #connect(): void {
    if (this.#stopped) return;
    const { connectUrl, token } = this.#o.config;
    this.#o.log.log('info', 'link.connecting', { url: connectUrl, attempt: this.#attempt });
    const socket = new WebSocket(connectUrl, {
      headers: { Authorization: `Bearer ${token}` },
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
      maxPayload: MAX_FRAME_BYTES,
    });
    this.#socket = socket;
    this.#welcomed = false;

    socket.on('unexpected-response', (_req, res) => {
      const status = res.statusCode ?? 0;
      res.resume();
      if (status === 401 || status === 403) {
        this.#o.log.log('error', 'link.token_rejected', {
          status,
          hint: 'The runner token is wrong or was revoked; mint a new one (POST /v1/runners) and restart.',
        });
        this.#finish(EXIT.unauthorized, `token rejected (${status})`);
      } else {
        this.#o.log.log('warn', 'link.refused', { status });
      }
      socket.terminate();
    });
    socket.on('open', () => {
      this.#lastHeard = Date.now();
      this.#send(
        {
          type: 'hello',
          protocol: PROTOCOL_VERSION,
          runnerVersion: RUNNER_VERSION,
          nmapVersion: this.#o.nmapVersion,
          privileged: this.#o.privilege.privileged,
          maxConcurrency: this.#o.config.maxConcurrency,
          networks: this.#o.config.networks,
          instanceId: INSTANCE_ID,
          host: runnerHost(),
          ...(this.#o.fenceStatus && {
            fence: { enforced: this.#o.fenceStatus.enforced, detail: this.#o.fenceStatus.detail.slice(0, 200) },
          }),
          resume: [...this.#jobs.values()].map((j) => j.resumePoint),
        },
        true,
      );
    });
    socket.on('message', (data, isBinary) => {
      this.#lastHeard = Date.now();
      if (isBinary) return this.#o.log.log('warn', 'link.binary_frame_ignored');
      const text = data.toString();
      if (text === PONG_FRAME) return;
      const parsed = parseEdgeFrame(text);
      if (!parsed.ok) return this.#o.log.log('warn', 'link.malformed_frame', { problem: parsed.problem });
      this.#handle(parsed.message);
    });
    socket.on('error', (e) => {
      const { detail, fix } = explainConnectError(connectUrl, e);
      this.#o.log.log('warn', 'link.error', { message: detail, hint: fix });
    });
    socket.on('close', (code, reason) => {
      clearInterval(this.#heartbeat);
      this.#welcomed = false;
      if (this.#socket !== socket || this.#stopped) return;
      const delay = reconnectDelayMs(this.#attempt++, this.#o.backoff ?? DEFAULT_BACKOFF);
      this.#o.log.log('warn', 'link.closed', {
        code,
        reason: reason.toString().slice(0, 200),
        reconnectInMs: delay,
        runningJobs: this.runningJobs,
      });
      this.#reconnectTimer = setTimeout(() => this.#connect(), delay);
    });
  }

  #handle(message: EdgeMessage): void {
    switch (message.type) {
      case 'welcome': {
        this.#welcomed = true;
        this.#attempt = 0;
        this.#o.log.log('info', 'link.ready', {
          runnerId: message.runnerId,
          heartbeatSec: message.heartbeatSec,
          resending: this.#jobs.size,
        });
        this.#startHeartbeat(message.heartbeatSec);
        for (const job of this.#jobs.values()) job.resend();
        return;
      }
      case 'runner.update_available':
        this.#o.log.log('warn', 'runner.update_available', {
          version: message.runnerVersion,
          latest: message.latestRunnerVersion,
          hint: 'The edge serves a newer runner: sudo scangate-runner update (checks its hash, restarts the service).',
        });
        return;
      case 'edge.features':
        this.#edgeFeatures = new Set(message.features);
        return;
      case 'job.dispatch':
        void this.#dispatch(message);
        return;
      case 'job.cancel': {
        const job = this.#jobs.get(message.jobId);
        if (job?.running) {
          this.#o.log.log('info', 'job.cancel', { jobId: message.jobId });
          job.cancel();
        }
        return;
      }
      case 'ack': {
        const job = this.#jobs.get(message.jobId);
        if (!job) return;
        job.ack(message.seq);
        if (job.settled) this.#jobs.delete(message.jobId);
        return;
      }
      case 'error': {
        this.#o.log.log('error', 'link.edge_error', {
          code: message.code,
          message: message.message,
          hint: message.recoverySuggestion,
        });
        if (message.code === 'unsupported_protocol') this.#finish(EXIT.protocol, message.message);
        else if (message.code === 'revoked' || message.code === 'unauthorized')
          this.#finish(EXIT.unauthorized, message.message);
        // Its --network list is outside its grant: a configuration error a person must fix, not worth a reconnect.
        else if (message.code === 'networks_not_granted') this.#finish(EXIT.usage, message.message);
        // Another host holds this runner token: keep retrying (with backoff), so this host takes over when that one
        // stops; the edge shows the conflict on the dashboard meanwhile.
        else if (message.code === 'runner_in_use')
          this.#o.log.log('error', 'link.token_in_use_elsewhere', { hint: message.recoverySuggestion });
        return;
      }
    }
  }

  #startHeartbeat(seconds: number): void {
    clearInterval(this.#heartbeat);
    this.#heartbeat = setInterval(() => {
      if (Date.now() - this.#lastHeard > 2 * seconds * 1000) {
        this.#o.log.log('warn', 'link.heartbeat_lost', { silentMs: Date.now() - this.#lastHeard });
        this.#socket?.terminate();
        return;
      }
      if (this.#socket?.readyState === WebSocket.OPEN) this.#socket.send(PING_FRAME);
    }, seconds * 1000);
  }

  /** Sends a frame if the link is ready (or, for hello, merely open). Unsent output stays in the journal. */
  #send(message: RunnerMessage, beforeWelcome = false): void {
    const socket = this.#socket;
    if (!socket || socket.readyState !== WebSocket.OPEN || (!this.#welcomed && !beforeWelcome)) return;
    socket.send(encodeRunnerFrame(message));
  }

  /**
   * Takes a dispatch or refuses it. The job is in the table before its (async) checks run, so a repeat that arrives
   * meanwhile is answered as a repeat and a dispatch over the concurrency is refused.
   */
  async #dispatch(dispatch: JobDispatch): Promise<void> {
    const { jobId } = dispatch;
    const known = this.#jobs.get(jobId);
    // A repeated dispatch (the edge lost our accept): answer as before, never run a scan twice.
    if (known) return known.answerRepeat();
    const refused = refuseDispatch({
      draining: this.#draining,
      running: this.runningJobs,
      maxConcurrency: this.#o.config.maxConcurrency,
    });
    if (refused) return rejectJob(jobId, refused, this.#channel);
    const job = new RunnerJob(dispatch, this.#o, this.#channel);
    this.#jobs.set(jobId, job);
    await job.run({ accepted: () => this.#retain(), refused: () => this.#jobs.delete(jobId) });
  }

  /** Keeps the job table bounded while the edge is away: the oldest finished jobs go first. */
  #retain(): void {
    if (this.#jobs.size <= MAX_RETAINED_JOBS) return;
    for (const [jobId, job] of this.#jobs) {
      if (this.#jobs.size <= MAX_RETAINED_JOBS) break;
      if (!job.running) {
        this.#jobs.delete(jobId);
        this.#o.log.log('warn', 'job.dropped_unacked', { jobId, lastSeq: job.resumePoint.lastSeq });
      }
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** This process, as the edge tells runner instances apart (one live link per runner token). */
const INSTANCE_ID = randomUUID();

/** The host name sent in hello: the edge keeps one live host per runner token (printable ASCII, as the schema asks). */
function runnerHost(): string {
  const name = hostname()
    .replace(/[^\x21-\x7e]/g, '')
    .slice(0, 253);
  return name || 'unnamed-host';
}
