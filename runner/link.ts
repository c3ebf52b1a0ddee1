import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import WebSocket from 'ws';
import { scanError, type ScanError } from '../shared/errors/index.ts';
import {
  encodeRunnerFrame,
  MAX_FRAME_BYTES,
  parseEdgeFrame,
  PING_FRAME,
  PONG_FRAME,
  PROTOCOL_VERSION,
  ScanErrorSchema,
  type EdgeMessage,
  type JobDispatch,
  type RunnerMessage,
} from '../shared/protocol/index.ts';
import { DEFAULT_BACKOFF, reconnectDelayMs, type BackoffOptions } from './backoff.ts';
import { EXIT, type RunnerConfig } from './config.ts';
import { execute } from './executor.ts';
import { guardDispatch, type Resolver } from './guard.ts';
import type { LocalScripts } from './nmap-scripts.ts';
import { JobJournal } from './journal.ts';
import { explainConnectError } from './messages.ts';
import type { Logger } from './log.ts';
import type { Privilege } from './system.ts';

export const RUNNER_VERSION = '0.1.0';
/** Jobs kept for resend; past this the oldest finished ones are dropped (and logged). */
const MAX_RETAINED_JOBS = 256;
const HANDSHAKE_TIMEOUT_MS = 10_000;
/** On shutdown, how long to wait for the edge to ack the last results before closing. */
const FLUSH_TIMEOUT_MS = 5000;

export interface LinkOptions {
  config: RunnerConfig;
  log: Logger;
  privilege: Privilege;
  nmapPath: string;
  nmapVersion: string | null;
  resolve: Resolver;
  /** This runner's nmap scripts (see nmap-scripts.ts); undefined refuses every scan with scripts. */
  scripts: LocalScripts | undefined;
  backoff?: BackoffOptions;
  statsEvery?: string;
  /** util-linux setpriv, to give nmap a parent-death signal (see ExecuteOptions). */
  setprivPath?: string;
}

interface JobState {
  journal: JobJournal;
  abort: AbortController;
  running: boolean;
  lastProgressAt: number;
}

/**
 * The runner's side of the link. It dials out, says hello, runs what it is dispatched after its own checks,
 * and keeps every job's output and result until the edge acks them, resending after each reconnect. Jobs
 * run to their end whether or not the link is up. `run()` resolves with the process exit code.
 */
export class RunnerLink {
  readonly #o: LinkOptions;
  readonly #jobs = new Map<string, JobState>();
  #socket: WebSocket | undefined;
  #welcomed = false;
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
        job.abort.abort();
      }
    }
    while (this.runningJobs > 0) await sleep(50);
    const flushBy = Date.now() + FLUSH_TIMEOUT_MS;
    while (this.#welcomed && [...this.#jobs.values()].some((j) => !j.journal.settled) && Date.now() < flushBy) await sleep(50);
    this.#finish(EXIT.ok, 'shutdown');
  }

  #finish(code: number, why: string): void {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#heartbeat);
    clearTimeout(this.#reconnectTimer);
    for (const job of this.#jobs.values()) if (job.running) job.abort.abort();
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
      this.#send({
        type: 'hello',
        protocol: PROTOCOL_VERSION,
        runnerVersion: RUNNER_VERSION,
        nmapVersion: this.#o.nmapVersion,
        privileged: this.#o.privilege.privileged,
        maxConcurrency: this.#o.config.maxConcurrency,
        networks: this.#o.config.networks,
        instanceId: INSTANCE_ID,
        host: runnerHost(),
        resume: [...this.#jobs].map(([jobId, j]) => ({ jobId, lastSeq: j.journal.lastSeq, finished: j.journal.finished !== undefined })),
      }, true);
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
      this.#o.log.log('warn', 'link.closed', { code, reason: reason.toString().slice(0, 200), reconnectInMs: delay, runningJobs: this.runningJobs });
      this.#reconnectTimer = setTimeout(() => this.#connect(), delay);
    });
  }

  #handle(message: EdgeMessage): void {
    switch (message.type) {
      case 'welcome': {
        this.#welcomed = true;
        this.#attempt = 0;
        this.#o.log.log('info', 'link.ready', { runnerId: message.runnerId, heartbeatSec: message.heartbeatSec, resending: this.#jobs.size });
        this.#startHeartbeat(message.heartbeatSec);
        for (const job of this.#jobs.values()) for (const frame of job.journal.pending()) this.#send(frame);
        return;
      }
      case 'job.dispatch':
        void this.#dispatch(message);
        return;
      case 'job.cancel': {
        const job = this.#jobs.get(message.jobId);
        if (job?.running) {
          this.#o.log.log('info', 'job.cancel', { jobId: message.jobId });
          job.abort.abort();
        }
        return;
      }
      case 'ack': {
        const job = this.#jobs.get(message.jobId);
        if (!job) return;
        job.journal.ack(message.seq);
        if (job.journal.settled) this.#jobs.delete(message.jobId);
        return;
      }
      case 'error': {
        this.#o.log.log('error', 'link.edge_error', { code: message.code, message: message.message, hint: message.recoverySuggestion });
        if (message.code === 'unsupported_protocol') this.#finish(EXIT.protocol, message.message);
        else if (message.code === 'revoked' || message.code === 'unauthorized') this.#finish(EXIT.unauthorized, message.message);
        // Its --network list is outside its grant: a configuration error a person must fix, not worth a reconnect.
        else if (message.code === 'networks_not_granted') this.#finish(EXIT.usage, message.message);
        // Another host holds this runner token: keep retrying (with backoff), so this host takes over when that one
        // stops; the edge shows the conflict on the dashboard meanwhile.
        else if (message.code === 'runner_in_use') this.#o.log.log('error', 'link.token_in_use_elsewhere', { hint: message.recoverySuggestion });
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

  #reject(jobId: string, error: ScanError): void {
    this.#o.log.log('warn', 'job.rejected', { jobId, type: error.type, message: error.message });
    // Details past the protocol's bounds (a long expected argv, say) stay in the log; the message says enough.
    const fits = !error.details || ScanErrorSchema.safeParse(error).success;
    const { details: _details, ...bare } = error;
    this.#send({ type: 'job.rejected', jobId, error: fits ? error : bare });
  }

  async #dispatch(dispatch: JobDispatch): Promise<void> {
    const { jobId } = dispatch;
    const known = this.#jobs.get(jobId);
    if (known) {
      // A repeated dispatch (the edge lost our accept): answer as before, never run a scan twice.
      this.#send({ type: 'job.accepted', jobId });
      for (const frame of known.journal.pending()) this.#send(frame);
      return;
    }
    if (this.#draining) {
      return this.#reject(jobId, scanError('no_runner', 'This runner is shutting down', 'Retry; the edge will pick another runner or this one after it restarts.'));
    }
    if (this.runningJobs >= this.#o.config.maxConcurrency) {
      return this.#reject(
        jobId,
        scanError('rate_limited', `This runner is already running ${this.runningJobs} scans, its maximum`, 'Retry shortly.', { retryAfterSec: 5 }),
      );
    }
    const job: JobState = { journal: new JobJournal(jobId), abort: new AbortController(), running: true, lastProgressAt: 0 };
    this.#jobs.set(jobId, job); // reserved before the (async) guard, so a repeat cannot start a second scan
    const guarded = await guardDispatch(dispatch, {
      networks: this.#o.config.networks,
      privileged: this.#o.privilege.privileged,
      allowIntrusive: this.#o.config.allowIntrusive,
      allowEvasion: this.#o.config.allowEvasion,
      resolve: this.#o.resolve,
      scripts: this.#o.scripts,
    });
    if (!guarded.ok) {
      this.#jobs.delete(jobId);
      return this.#reject(jobId, guarded.error);
    }
    this.#send({ type: 'job.accepted', jobId });
    this.#o.log.log('info', 'job.started', { jobId, argv: guarded.argv, timeoutSec: dispatch.timeoutSec });
    this.#retain();

    const result = await execute({
      argv: guarded.argv,
      timeoutSec: dispatch.timeoutSec,
      caps: { stdout: dispatch.limits.stdoutMaxBytes, stderr: dispatch.limits.stderrMaxBytes },
      nmapPath: this.#o.nmapPath,
      privilegedWithoutRoot: this.#o.privilege.viaCapabilities,
      resolved: guarded.resolved,
      signal: job.abort.signal,
      ...(this.#o.statsEvery && { statsEvery: this.#o.statsEvery }),
      ...(this.#o.setprivPath && { setprivPath: this.#o.setprivPath }),
      onFirstOutput: () => this.#o.log.log('debug', 'job.first_output', { jobId, atMs: Date.now() }),
      onOutput: (stream, data) => this.#send(job.journal.append(stream, data)),
      onProgress: (p) => {
        const now = Date.now();
        if (now - job.lastProgressAt < 1000 && p.percent < 100) return;
        job.lastProgressAt = now;
        this.#send({ type: 'job.progress', jobId, percent: p.percent, phase: p.phase, ...(p.etaSec !== undefined && { etaSec: p.etaSec }) });
      },
    });
    job.running = false;
    const finished = job.journal.finish(result);
    this.#o.log.log(result.exitCode === 0 ? 'info' : 'warn', 'job.finished', {
      jobId,
      exitCode: result.exitCode,
      signal: result.signal,
      timedOut: result.timedOut,
      cancelled: result.cancelled,
      durationMs: result.durationMs,
      truncated: result.truncated,
      error: result.error?.message,
    });
    this.#send(finished);
  }

  /** Keeps the job table bounded while the edge is away: the oldest finished jobs go first. */
  #retain(): void {
    if (this.#jobs.size <= MAX_RETAINED_JOBS) return;
    for (const [jobId, job] of this.#jobs) {
      if (this.#jobs.size <= MAX_RETAINED_JOBS) break;
      if (!job.running) {
        this.#jobs.delete(jobId);
        this.#o.log.log('warn', 'job.dropped_unacked', { jobId, lastSeq: job.journal.lastSeq });
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
  const name = hostname().replace(/[^\x21-\x7e]/g, '').slice(0, 253);
  return name || 'unnamed-host';
}
