/**
 * The job engine of one pool's Coordinator. Longer than ~300 lines because a job's whole life after acceptance is
 * one state machine (queue, dispatch, output under the edge's caps, end, breaker verdict, lease, deadline,
 * retention, the alarm), and splitting it would split the transitions from each other.
 */
import { scanError, type ScanError } from '../../../shared/errors/index.ts';
import type { Target } from '../../../shared/policy/index.ts';
import type { JobFinished, RunnerMessage } from '../../../shared/protocol/index.ts';
import * as breakers from '../../domain/breaker.ts';
import { judgeXml, XML_HEAD_BYTES } from '../../domain/nmap-xml-check.ts';
import { admitOutput, frameBudget } from '../../domain/output-caps.ts';
import { chooseRunner, type RunnerView } from '../../domain/routing.ts';
import { type JobStatus, TERMINAL } from '../../../shared/scan/index.ts';
import type { EventType, JobResult, JobRow, StoredEvent, XmlState } from '../../storage/jobs.store.ts';
import type { RunnerRecord } from '../../storage/runners.store.ts';
import type { Core } from './core.ts';
import type { RunnerSockets } from './sockets.ts';
import type { ScanStreams } from './streams.ts';
import { Waiters } from './waiters.ts';

type JobOutput = Extract<RunnerMessage, { type: 'job.output' }>;

/**
 * The life of a job after it is accepted: the queue, dispatch to a runner, its events, its end, what its end means
 * for the runner's breaker, leases while a runner is away, deadlines, retention, and the one alarm that serves
 * them all. Routing and breaker rules are the pure modules'; this stores and relays.
 */
export class JobEngine {
  readonly #core: Core;
  readonly #sockets: RunnerSockets;
  readonly #streams: ScanStreams;
  /** Woken on each event of a job (callers that relay progress). */
  readonly events = new Waiters();
  /** Woken when a job ends (callers that wait for a result). */
  readonly ended = new Waiters();

  /**
   * Called after a job ends, once, with its final status (the scan history feeds its inventory from it). A hook
   * that throws is logged and does not undo the end.
   */
  readonly afterFinish: Array<(row: JobRow, status: JobStatus, now: number) => void> = [];
  /** Other times the one alarm must come back (e.g. the inventory's next prune), or null. */
  readonly alsoDue: Array<() => number | null> = [];
  /** Called when a runner's breaker changes state (alerts), after the change is stored. */
  readonly breakerMoved: Array<(runner: RunnerRecord, from: breakers.Breaker, to: breakers.Breaker) => void> = [];

  constructor(core: Core, sockets: RunnerSockets, streams: ScanStreams) {
    this.#core = core;
    this.#sockets = sockets;
    this.#streams = streams;
  }

  /** Stores an event and relays it to the job's streams and watchers. Output with a seq already stored is dropped. */
  event(
    jobId: string,
    type: EventType,
    data: unknown,
    output?: { seq: number; stream: string },
  ): StoredEvent | undefined {
    if (type !== 'output') this.#core.notifyDashboard();
    const event = this.#core.jobs.append(jobId, type, data, output);
    if (!event) return undefined;
    this.#streams.publish(jobId, event);
    this.events.wake(jobId);
    return event;
  }

  /** Runners that can take work now: connected over a link that said hello, not revoked. */
  liveRunners(): RunnerView[] {
    const active = this.#core.jobs.activeCounts();
    return this.#core.runners
      .list()
      .filter((r) => r.connected && !r.revokedAt && r.hello && this.#sockets.linksOf(r.id).length > 0)
      .map((r) => ({
        id: r.id,
        name: r.name,
        networks: r.hello!.networks,
        privileged: r.hello!.privileged,
        fenced: r.hello!.fence?.enforced === true,
        maxConcurrency: r.hello!.maxConcurrency,
        running: active.get(r.id) ?? 0,
        breaker: r.breaker,
      }));
  }

  dispatch(row: JobRow, runnerId: string): void {
    const runner = this.#core.runners.get(runnerId)!;
    const now = Date.now();
    this.#core.jobs.update(row.id, {
      status: 'dispatched',
      runner_id: runnerId,
      dispatched_at: now,
      queued_until: null,
    });
    this.setBreaker(runner, breakers.onDispatch(runner.breaker, row.id));
    const p = this.#core.policy();
    this.#sockets.sendTo(runnerId, {
      type: 'job.dispatch',
      jobId: row.id,
      argv: JSON.parse(row.argv) as string[],
      timeoutSec: row.timeout_sec,
      policy: {
        allowedHostSuffixes: p.allowedHostSuffixes,
        allowIntrusive: p.allowIntrusive,
        allowEvasion: p.allowEvasion,
        maxHosts: p.maxHosts,
        maxTargets: p.maxTargets,
        maxPortRanges: p.maxPortRanges,
      },
      limits: { stdoutMaxBytes: p.output.stdoutMaxBytes, stderrMaxBytes: p.output.stderrMaxBytes },
    });
    this.event(row.id, 'dispatched', { runnerId, runner: runner.name });
  }

  /**
   * Sends queued jobs to runners that can take them now, oldest first; a job whose token already runs its share
   * waits while younger jobs of other tokens go ahead. Jobs past their queue time fail, saying which wait it was.
   */
  drainQueue(): void {
    const now = Date.now();
    for (const row of this.#core.jobs.byStatus(['queued'])) {
      const policy = this.#core.policy();
      const share = { running: this.#core.jobs.tokenLoad(row.token_id).running, ...policy.perToken };
      const decision = chooseRunner(
        {
          targets: JSON.parse(row.targets) as Target[],
          needsPrivilege: row.needs_privilege === 1,
          requireFence: policy.requireFence,
          share,
        },
        this.liveRunners(),
        now,
      );
      if (decision.kind === 'dispatch') {
        this.dispatch(row, decision.runnerId);
      } else if (row.queued_until !== null && row.queued_until <= now) {
        this.finish(
          row,
          'failed',
          null,
          decision.kind === 'queue' && decision.reason === 'token_share'
            ? scanError(
                'rate_limited',
                `This token's own running scans held its share of the runners (${decision.limit} at once) while this scan waited`,
                'Wait for your running scans to finish or cancel one, then start it again; an admin can raise policy perToken limits.',
              )
            : scanError(
                'no_runner',
                'Every runner for these targets stayed busy while the scan waited',
                'Retry later, or add runner capacity (--max-concurrency).',
              ),
        );
      } else if (decision.kind === 'refuse' && decision.error.type !== 'circuit_breaker_open') {
        this.finish(row, 'failed', null, decision.error);
      }
    }
  }

  finish(
    row: JobRow,
    status: 'succeeded' | 'failed' | 'cancelled' | 'rejected',
    result: JobResult | null,
    error: ScanError | null,
    lastSeq?: number,
  ): void {
    const now = Date.now();
    this.#core.jobs.update(row.id, {
      status,
      finished_at: now,
      lease_until: null,
      queued_until: null,
      result: result ? JSON.stringify(result) : null,
      error: error ? JSON.stringify(error) : null,
      ...(lastSeq !== undefined && { last_seq: lastSeq }),
    });
    this.#core.counters.add('scangate_scans_total', { outcome: status === 'failed' && error ? error.type : status });
    if (row.dispatched_at) this.#core.counters.observeDuration((now - row.dispatched_at) / 1000);
    this.#core.audit.record(row.token_name, 'scan.finish', status, {
      scanId: row.id,
      runnerId: row.runner_id,
      exitCode: result?.exitCode ?? null,
      error: error?.type ?? null,
    });
    this.event(row.id, 'finished', { status, exitCode: result?.exitCode ?? null, error });
    this.#streams.closeLive(row.id);
    this.ended.wake(row.id);
    for (const hook of this.afterFinish) {
      try {
        hook(row, status, now);
      } catch (e) {
        console.error(`after-finish hook failed for ${row.id}: ${(e as Error).message}`);
      }
    }
  }

  setBreaker(runner: RunnerRecord, next: breakers.Breaker): void {
    this.#core.notifyDashboard();
    if (next.state !== runner.breaker.state)
      this.#core.counters.add('scangate_breaker_transitions_total', { runner: runner.name, to: next.state });
    const from = runner.breaker;
    this.#core.runners.setBreaker(runner.id, next);
    runner.breaker = next;
    if (next.state !== from.state) for (const hook of this.breakerMoved) hook(runner, from, next);
  }

  /** Applies a job's end to its runner's breaker (the rule is breakers.verdictOf's). */
  judge(row: JobRow, verdict: 'success' | 'failure' | 'neutral', error?: ScanError): void {
    if (!row.runner_id) return;
    const runner = this.#core.runners.get(row.runner_id);
    if (!runner) return;
    const now = Date.now();
    const settings = this.#core.policy().breaker;
    const next =
      verdict === 'success'
        ? breakers.onSuccess(runner.breaker, now, row.id, settings)
        : verdict === 'failure'
          ? breakers.onFailure(runner.breaker, now, row.id, error!, settings)
          : breakers.onProbeAbandoned(runner.breaker, row.id);
    this.setBreaker(runner, next);
  }

  onFinished(message: JobFinished): void {
    const row = this.#core.jobs.get(message.jobId);
    if (!row || TERMINAL.has(row.status)) return;
    // Output still missing: keep waiting for the resend before taking the result.
    if (this.#core.jobs.contiguousSeq(row.id) < message.lastSeq) return;
    const result: JobResult = {
      exitCode: message.exitCode,
      signal: message.signal,
      timedOut: message.timedOut,
      cancelled: message.cancelled,
      durationMs: message.durationMs,
      truncated: message.truncated,
      report: message.report,
      ...this.#xmlOf(row, message),
    };
    let error: ScanError | undefined;
    if (message.cancelled) {
      this.finish(
        row,
        'cancelled',
        result,
        scanError('cancelled', 'The scan was cancelled', 'Start a new scan if needed.'),
        message.lastSeq,
      );
    } else if (message.error || message.timedOut || message.exitCode !== 0) {
      error =
        message.error ??
        (message.timedOut
          ? scanError(
              'timeout',
              `The scan ran past its ${row.timeout_sec} s timeout and was stopped`,
              'Scan fewer hosts or ports, or give a longer timeoutSec.',
            )
          : scanError(
              'execution_error',
              `nmap exited with ${message.exitCode ?? message.signal}`,
              "Read the scan output for nmap's own message.",
            ));
      this.finish(row, 'failed', result, error, message.lastSeq);
    } else {
      this.finish(row, 'succeeded', result, null, message.lastSeq);
    }
    this.judge(row, breakers.verdictOf({ ...result, runnerError: message.error ?? null }), error);
  }

  /** What the result keeps of the job's XML (judged as nmap-xml-check.ts says); refused XML is emptied. */
  #xmlOf(row: JobRow, message: JobFinished): { xml?: XmlState } {
    const verdict = judgeXml({
      declared: message.xml,
      storedBytes: row.xml_bytes,
      cutAtEdge: (row.edge_truncated & 4) !== 0,
      head: row.xml_bytes > 0 ? this.#core.jobs.outputPage(row.id, 0, XML_HEAD_BYTES, 'xml').data : '',
      report: message.report,
    });
    if (verdict && 'refused' in verdict) {
      this.#core.jobs.dropXml(row.id);
      this.#core.counters.add('scangate_xml_refused_total', {});
      this.#core.audit.record(row.token_name, 'scan.xml', 'refused', {
        scanId: row.id,
        runnerId: row.runner_id,
        reason: verdict.refused,
      });
    }
    return verdict === undefined ? {} : { xml: verdict };
  }

  /**
   * Output from a runner, under the edge's own caps (output-caps.ts): nothing is stored for a job that is not this
   * runner's or has ended (acked, so an honest runner's journal drains); past the policy's caps it is truncated and
   * flagged; past the frame budget the job fails, counted against the runner.
   */
  onOutput(runnerId: string, row: JobRow | undefined, message: JobOutput): void {
    if (!row || TERMINAL.has(row.status)) {
      if (row) this.#core.counters.add('scangate_output_frames_refused_total', { reason: 'job_ended' });
      this.#sockets.sendTo(runnerId, { type: 'ack', jobId: message.jobId, seq: message.seq });
      return;
    }
    const caps = this.#core.policy().output;
    const admission = admitOutput(
      {
        stdoutBytes: row.stdout_bytes,
        stderrBytes: row.stderr_bytes,
        xmlBytes: row.xml_bytes,
        frames: row.output_frames,
      },
      message.stream,
      message.data,
      caps,
      frameBudget(row.timeout_sec, caps),
    );
    if (admission.kind === 'over_frame_budget') {
      const error = scanError(
        'execution_error',
        `The runner sent more than ${admission.maxFrames} output frames for this scan, more than any scan can produce; the edge stopped it`,
        'Check the runner host: scangate-runner doctor, and its logs.',
      );
      if (row.runner_id) this.#sockets.sendTo(row.runner_id, { type: 'job.cancel', jobId: row.id });
      this.finish(row, 'failed', null, error);
      this.judge(row, 'failure', error);
      this.#sockets.sendTo(runnerId, { type: 'ack', jobId: message.jobId, seq: message.seq });
      return;
    }
    const { stream } = message;
    const data = { seq: message.seq, stream, data: admission.data };
    // nmap's XML is stored in order like output, but is not an event: no stream or watcher is sent 8 MiB of it.
    const stored =
      stream === 'xml'
        ? this.#core.jobs.append(row.id, 'xml', data, { seq: message.seq, stream })
        : this.event(row.id, 'output', data, { seq: message.seq, stream });
    if (stored) {
      const bytes = { stdout: 'stdout_bytes', stderr: 'stderr_bytes', xml: 'xml_bytes' } as const;
      this.#core.jobs.update(row.id, {
        ...(stream !== 'xml' && { output_bytes: row.output_bytes + admission.bytes }),
        [bytes[stream]]: row[bytes[stream]] + admission.bytes,
        output_frames: row.output_frames + 1,
        ...(admission.truncated && { edge_truncated: row.edge_truncated | { stdout: 1, stderr: 2, xml: 4 }[stream] }),
      });
      this.#core.counters.add('scangate_relayed_bytes_total', {}, admission.bytes);
      if (admission.truncated) this.#core.counters.add('scangate_output_truncated_total', { stream });
    }
    this.#sockets.sendTo(runnerId, { type: 'ack', jobId: row.id, seq: this.#core.jobs.contiguousSeq(row.id) });
  }

  /** The runner's link is down: each of its active jobs gets a lease to come back in. */
  leaseJobsOf(runnerId: string, now: number): void {
    const lease = now + this.#core.settings.leaseMs;
    for (const row of this.#core.jobs.activeOnRunner(runnerId))
      if (row.lease_until === null) this.#core.jobs.update(row.id, { lease_until: lease });
  }

  runnerLost(row: JobRow, why: string): void {
    const error = scanError(
      'runner_lost',
      `The runner running this scan ${why}`,
      'Start the scan again; scans are never retried automatically.',
    );
    this.finish(row, 'failed', null, error);
    this.judge(row, breakers.verdictOf({ ...breakers.NO_REPORT, runnerLost: true }), error);
  }

  /**
   * The alarm's work on jobs: leases run out, deadlines pass (the edge enforces each job's deadline itself: a
   * runner that has not reported a scan's end by its timeout plus the grace is told to cancel it, and the job
   * fails against the runner), breakers half-open, the queue drains, ended jobs past the retention go.
   */
  onAlarm(now: number): void {
    const { leaseMs, deadlineGraceMs } = this.#core.settings;
    for (const row of this.#core.jobs.byStatus(['dispatched', 'running'])) {
      if (row.lease_until !== null && row.lease_until <= now)
        this.runnerLost(row, `stayed away past its ${leaseMs / 1000} s lease`);
      else if (row.dispatched_at !== null && row.dispatched_at + row.timeout_sec * 1000 + deadlineGraceMs <= now)
        this.#pastDeadline(row);
    }
    for (const runner of this.#core.runners.list()) {
      const next = breakers.onTimer(runner.breaker, now);
      if (next !== runner.breaker) this.setBreaker(runner, next);
    }
    this.drainQueue();
    const pruned = this.#core.jobs.prune(now - this.#core.settings.jobRetentionMs, 500);
    if (pruned > 0) this.#core.counters.add('scangate_scans_pruned_total', {}, pruned);
  }

  #pastDeadline(row: JobRow): void {
    if (row.runner_id) this.#sockets.sendTo(row.runner_id, { type: 'job.cancel', jobId: row.id });
    const error = scanError(
      'timeout',
      `The runner did not report the end of this scan within its ${row.timeout_sec} s timeout and ${this.#core.settings.deadlineGraceMs / 1000} s of grace; the edge stopped waiting and asked it to cancel`,
      'Start the scan again; check the runner (scangate-runner doctor) if this repeats.',
    );
    this.finish(row, 'failed', null, error);
    this.judge(row, breakers.verdictOf({ ...breakers.NO_REPORT, missedDeadline: true }), error);
  }

  /**
   * Sets the one alarm to the next time anything is due: a lease, a queue expiry or a deadline, a breaker's
   * half-open time, the next heartbeat check while runners are connected, the oldest ended scan's expiry (never
   * sooner than a minute, so pruning is not a busy loop).
   */
  async schedule(): Promise<void> {
    const { heartbeatSec, deadlineGraceMs, jobRetentionMs } = this.#core.settings;
    const runners = this.#core.runners.list();
    const oldest = this.#core.jobs.oldestFinish();
    const times = [
      this.#core.jobs.nextDeadline(deadlineGraceMs),
      ...runners.map((r) => (r.breaker.state === 'OPEN' ? r.breaker.halfOpenAt : null)),
      runners.some((r) => r.connected) ? Date.now() + heartbeatSec * 1000 : null,
      oldest === null ? null : Math.max(oldest + jobRetentionMs, Date.now() + 60_000),
      ...this.alsoDue.map((due) => {
        const t = due();
        return t === null ? null : Math.max(t, Date.now() + 60_000);
      }),
    ].filter((t): t is number => t !== null);
    if (times.length === 0) return;
    const next = Math.min(...times);
    const current = await this.#core.ctx.storage.getAlarm();
    if (current === null || current > next || current < Date.now())
      await this.#core.ctx.storage.setAlarm(Math.max(next, Date.now() + 10));
  }
}
