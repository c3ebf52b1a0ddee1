/**
 * One dispatched job on the runner: its own checks (guard.ts), nmap under limits (executor.ts), and what it owes
 * the edge (journal.ts): acceptance, output, progress and the result as frames, kept until acked and stopped by a
 * cancel. A job knows nothing of the socket. It is handed a `send` that drops frames while the link is down (the
 * journal keeps them for the resend after the next welcome) and the run log, so a scan runs to its end whether or
 * not the link is up. The link (link.ts) holds the table of jobs and routes the edge's frames to them.
 */
import { scanError, type ScanError } from '../shared/errors/index.ts';
import {
  MAX_OUTPUT_CHUNK_BYTES,
  ScanErrorSchema,
  truncateUtf8,
  utf8ByteLength,
  type Hello,
  type JobDispatch,
  type RunnerMessage,
} from '../shared/protocol/index.ts';
import type { RunnerConfig } from './config.ts';
import { execute } from './executor.ts';
import type { Fence } from './fence.ts';
import { guardDispatch, type Resolver } from './guard.ts';
import { JobJournal } from './journal.ts';
import type { Logger } from './log.ts';
import type { LocalScripts } from './nmap-scripts.ts';
import type { Privilege } from './system.ts';

/** What every job on this runner is run with; fixed for the life of the process. */
export interface JobOptions {
  config: RunnerConfig;
  privilege: Privilege;
  nmapPath: string;
  resolve: Resolver;
  /** This runner's nmap scripts (see nmap-scripts.ts); undefined refuses every scan with scripts. */
  scripts: LocalScripts | undefined;
  statsEvery?: string;
  /** util-linux setpriv, to give nmap a parent-death signal (see ExecuteOptions). */
  setprivPath?: string;
  /** The kernel fence every nmap of this runner runs in (fence.ts), when the host allows one. */
  fence?: Fence;
}

/** A job's only ways out. `send` MUST drop a frame it cannot deliver now, never queue it: the journal resends. */
export interface JobChannel {
  send(frame: RunnerMessage): void;
  log: Logger;
  /** Whether the edge announced a feature (`edge.features`); nothing a feature covers is sent without it. */
  edgeTakes?(feature: string): boolean;
}

/** Where the edge resumes one job after a reconnect, as the hello carries it. */
export type ResumePoint = Hello['resume'][number];

/**
 * nmap prints a stats line per phase every --stats-every; one progress frame a second is plenty for a person
 * watching, so a short interval cannot flood the link. A phase's 100 % always goes out.
 */
const PROGRESS_EVERY_MS = 1000;

/** Why a new dispatch is refused before any check of its own runs, or undefined to take it. */
export function refuseDispatch(state: {
  draining: boolean;
  running: number;
  maxConcurrency: number;
}): ScanError | undefined {
  if (state.draining) {
    return scanError(
      'no_runner',
      'This runner is shutting down',
      'Retry; the edge will pick another runner or this one after it restarts.',
    );
  }
  if (state.running >= state.maxConcurrency) {
    return scanError(
      'rate_limited',
      `This runner is already running ${state.running} scans, its maximum`,
      'Retry shortly.',
      { retryAfterSec: 5 },
    );
  }
  return undefined;
}

/** A text cut into pieces of at most MAX_OUTPUT_CHUNK_BYTES of UTF-8 each, never splitting a character. */
export function xmlChunks(text: string, maxBytes = MAX_OUTPUT_CHUNK_BYTES): string[] {
  const chunks: string[] = [];
  for (let at = 0; at < text.length; ) {
    let chunk = truncateUtf8(text.slice(at, at + maxBytes), maxBytes);
    // A slice can end between the two halves of a surrogate pair: leave the pair whole for the next chunk.
    const last = chunk.charCodeAt(chunk.length - 1);
    if (chunk.length > 1 && last >= 0xd800 && last <= 0xdbff) chunk = chunk.slice(0, -1);
    if (chunk.length === 0) chunk = text.slice(at, at + 1);
    chunks.push(chunk);
    at += chunk.length;
  }
  return chunks;
}

/** Refuses a job: the log gets the whole error, the edge a frame within the protocol's bounds. */
export function rejectJob(jobId: string, error: ScanError, channel: JobChannel): void {
  channel.log.log('warn', 'job.rejected', { jobId, type: error.type, message: error.message });
  // Details past the protocol's bounds (a long expected argv, say) stay in the log; the message says enough.
  const fits = !error.details || ScanErrorSchema.safeParse(error).success;
  const { details: _details, ...bare } = error;
  channel.send({ type: 'job.rejected', jobId, error: fits ? error : bare });
}

/**
 * A job from its dispatch to its settlement. It holds one of the runner's slots (`running`) from the moment it is
 * created, through its checks, until nmap has ended, so a repeat of the same dispatch or one over the runner's
 * concurrency is refused while the (async) checks are still under way.
 */
export class RunnerJob {
  readonly jobId: string;
  readonly #dispatch: JobDispatch;
  readonly #options: JobOptions;
  readonly #channel: JobChannel;
  readonly #journal: JobJournal;
  readonly #abort = new AbortController();
  #running = true;
  #lastProgressAt = 0;

  constructor(dispatch: JobDispatch, options: JobOptions, channel: JobChannel) {
    this.jobId = dispatch.jobId;
    this.#dispatch = dispatch;
    this.#options = options;
    this.#channel = channel;
    this.#journal = new JobJournal(dispatch.jobId);
  }

  get running(): boolean {
    return this.#running;
  }

  /** Finished and every frame acked: nothing more is owed, the link may forget the job. */
  get settled(): boolean {
    return this.#journal.settled;
  }

  get resumePoint(): ResumePoint {
    return { jobId: this.jobId, lastSeq: this.#journal.lastSeq, finished: this.#journal.finished !== undefined };
  }

  /**
   * The runner's own checks of the dispatch, then nmap, then the result; resolves once the job has ended. A refused
   * job gives back its slot, calls `refused` (before `job.rejected` goes out, so the link forgets it first) and runs
   * nothing; an accepted one calls `accepted` after `job.accepted` is sent and before nmap starts.
   */
  async run(hooks: { accepted(): void; refused(): void }): Promise<void> {
    const { jobId } = this;
    const { config, privilege } = this.#options;
    const guarded = await guardDispatch(this.#dispatch, {
      networks: config.networks,
      privileged: privilege.privileged,
      allowIntrusive: config.allowIntrusive,
      allowEvasion: config.allowEvasion,
      resolve: this.#options.resolve,
      scripts: this.#options.scripts,
    });
    if (!guarded.ok) {
      this.#running = false;
      hooks.refused();
      rejectJob(jobId, guarded.error, this.#channel);
      return;
    }
    this.#channel.send({ type: 'job.accepted', jobId });
    this.#channel.log.log('info', 'job.started', { jobId, argv: guarded.argv, timeoutSec: this.#dispatch.timeoutSec });
    hooks.accepted();

    const result = await execute({
      argv: guarded.argv,
      timeoutSec: this.#dispatch.timeoutSec,
      caps: { stdout: this.#dispatch.limits.stdoutMaxBytes, stderr: this.#dispatch.limits.stderrMaxBytes },
      nmapPath: this.#options.nmapPath,
      privilegedWithoutRoot: privilege.viaCapabilities,
      resolved: guarded.resolved,
      signal: this.#abort.signal,
      ...(this.#options.statsEvery && { statsEvery: this.#options.statsEvery }),
      ...(this.#options.setprivPath && { setprivPath: this.#options.setprivPath }),
      ...(this.#options.fence && { fence: this.#options.fence }),
      onFirstOutput: () => this.#channel.log.log('debug', 'job.first_output', { jobId, atMs: Date.now() }),
      onOutput: (stream, data) => this.#channel.send(this.#journal.append(stream, data)),
      onProgress: (p) => {
        const now = Date.now();
        if (now - this.#lastProgressAt < PROGRESS_EVERY_MS && p.percent < 100) return;
        this.#lastProgressAt = now;
        this.#channel.send({
          type: 'job.progress',
          jobId,
          percent: p.percent,
          phase: p.phase,
          ...(p.etaSec !== undefined && { etaSec: p.etaSec }),
        });
      },
    });
    this.#running = false;
    // nmap's XML goes before the result, as output of its own stream: sequenced, kept until acked and resent like
    // the rest, so the edge has all of it (its seqs are below lastSeq) by the time it takes the result. An edge that
    // has not announced it takes XML gets neither the frames nor the field, as from a runner before them.
    const { xml, ...rest } = result;
    const sendXml = this.#channel.edgeTakes?.('xml') === true;
    if (sendXml && xml) for (const chunk of xmlChunks(xml.text)) this.#channel.send(this.#journal.append('xml', chunk));
    const finished = this.#journal.finish({
      ...rest,
      ...(sendXml && { xml: xml && { bytes: utf8ByteLength(xml.text), truncated: xml.truncated } }),
    });
    this.#channel.log.log(result.exitCode === 0 ? 'info' : 'warn', 'job.finished', {
      jobId,
      exitCode: result.exitCode,
      signal: result.signal,
      timedOut: result.timedOut,
      cancelled: result.cancelled,
      durationMs: result.durationMs,
      truncated: result.truncated,
      error: result.error?.message,
    });
    this.#channel.send(finished);
  }

  /** A repeated dispatch (the edge lost our accept): answer as before and resend, never run a scan twice. */
  answerRepeat(): void {
    this.#channel.send({ type: 'job.accepted', jobId: this.jobId });
    this.resend();
  }

  /** Sends everything not yet acked, in order: after a welcome, the edge drops what it already has by seq. */
  resend(): void {
    for (const frame of this.#journal.pending()) this.#channel.send(frame);
  }

  /** The edge has stored everything up to `seq`. */
  ack(seq: number): void {
    this.#journal.ack(seq);
  }

  /** Stops nmap (a cancel from the edge, or shutdown); the result still goes out, marked cancelled. */
  cancel(): void {
    if (this.#running) this.#abort.abort();
  }
}
