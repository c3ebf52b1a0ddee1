/**
 * One runner's circuit breaker, as a pure state machine: every function takes a state and returns the next.
 * The Coordinator stores it and sets an alarm for `halfOpenAt`, so OPEN leaves on its own without traffic.
 *
 * CLOSED → OPEN after `failureThreshold` consecutive failures. OPEN → HALF_OPEN when the recovery timeout
 * (±10 % jitter) has passed. HALF_OPEN lets one probe through: success → CLOSED (timeout reset), failure → OPEN
 * with the timeout ×1.5, capped. What counts as a failure is decided by `verdictOf` below, and only there.
 */
export type BreakerStateName = 'CLOSED' | 'OPEN' | 'HALF_OPEN';

export interface BreakerSettings {
  failureThreshold: number;
  recoveryTimeoutSec: number;
  maxRecoveryTimeoutSec: number;
}

export interface Transition {
  at: number;
  from: BreakerStateName;
  to: BreakerStateName;
  reason: string;
}

export interface BreakerError {
  at: number;
  jobId: string | null;
  type: string;
  message: string;
}

export interface Breaker {
  state: BreakerStateName;
  consecutiveFailures: number;
  /** The wait used the next time it opens (grows ×1.5 after each failed probe). */
  recoveryTimeoutSec: number;
  openedAt: number | null;
  /** When OPEN turns HALF_OPEN (epoch ms), jitter included. */
  halfOpenAt: number | null;
  /** The one job let through while HALF_OPEN. */
  probeJobId: string | null;
  counts: { successes: number; failures: number; opened: number };
  transitions: Transition[];
  errors: BreakerError[];
}

const MAX_TRANSITIONS = 100;
const MAX_ERRORS = 10;

export function newBreaker(settings: BreakerSettings): Breaker {
  return {
    state: 'CLOSED',
    consecutiveFailures: 0,
    recoveryTimeoutSec: settings.recoveryTimeoutSec,
    openedAt: null,
    halfOpenAt: null,
    probeJobId: null,
    counts: { successes: 0, failures: 0, opened: 0 },
    transitions: [],
    errors: [],
  };
}

function move(b: Breaker, to: BreakerStateName, at: number, reason: string): Breaker {
  if (b.state === to) return b;
  const transitions = [...b.transitions, { at, from: b.state, to, reason }].slice(-MAX_TRANSITIONS);
  return { ...b, state: to, transitions };
}

function open(b: Breaker, now: number, waitSec: number, reason: string, random: () => number): Breaker {
  const jitter = 0.9 + 0.2 * random();
  return {
    ...move(b, 'OPEN', now, reason),
    openedAt: now,
    halfOpenAt: now + Math.round(waitSec * 1000 * jitter),
    recoveryTimeoutSec: waitSec,
    probeJobId: null,
    counts: { ...b.counts, opened: b.counts.opened + 1 },
  };
}

/** May a new job go to this runner now? */
export function admits(b: Breaker): boolean {
  return b.state === 'CLOSED' || (b.state === 'HALF_OPEN' && b.probeJobId === null);
}

/** A job was sent through: in HALF_OPEN it becomes the probe. */
export function onDispatch(b: Breaker, jobId: string): Breaker {
  return b.state === 'HALF_OPEN' ? { ...b, probeJobId: jobId } : b;
}

export function onSuccess(b: Breaker, now: number, jobId: string, settings: BreakerSettings): Breaker {
  const counted = { ...b, consecutiveFailures: 0, counts: { ...b.counts, successes: b.counts.successes + 1 } };
  if (b.state === 'HALF_OPEN' && b.probeJobId === jobId) {
    return {
      ...move(counted, 'CLOSED', now, `probe ${jobId} succeeded`),
      recoveryTimeoutSec: settings.recoveryTimeoutSec,
      probeJobId: null,
      openedAt: null,
      halfOpenAt: null,
    };
  }
  return counted;
}

export function onFailure(
  b: Breaker,
  now: number,
  jobId: string | null,
  error: { type: string; message: string },
  settings: BreakerSettings,
  random: () => number = Math.random,
): Breaker {
  const errors = [...b.errors, { at: now, jobId, type: error.type, message: error.message.slice(0, 500) }].slice(
    -MAX_ERRORS,
  );
  const counted: Breaker = {
    ...b,
    errors,
    consecutiveFailures: b.consecutiveFailures + 1,
    counts: { ...b.counts, failures: b.counts.failures + 1 },
  };
  if (b.state === 'HALF_OPEN' && (b.probeJobId === jobId || jobId === null)) {
    const longer = Math.min(settings.maxRecoveryTimeoutSec, Math.round(b.recoveryTimeoutSec * 1.5));
    return open(counted, now, longer, `probe ${jobId ?? ''} failed: ${error.type}`.replace('  ', ' '), random);
  }
  if (b.state === 'CLOSED' && counted.consecutiveFailures >= settings.failureThreshold) {
    return open(counted, now, b.recoveryTimeoutSec, `${counted.consecutiveFailures} consecutive failures`, random);
  }
  return counted;
}

/** How a job ended, as the runner reported it (or as the edge saw it, for a runner lost mid-job). */
export interface JobEnd {
  cancelled: boolean;
  timedOut: boolean;
  exitCode: number | null;
  signal: string | null;
  /** An error the runner attributes to itself (spawn failure, nmap missing, unusable report). */
  runnerError: { type: string } | null;
  /** The runner went away mid-job and stayed away past the lease. */
  runnerLost?: boolean;
  /** The runner did not report the end by the job's timeout plus the edge's grace. */
  missedDeadline?: boolean;
}

/** A job the runner never reported the end of (lost, or past its deadline): the rest of JobEnd is unknown. */
export const NO_REPORT: JobEnd = { cancelled: false, timedOut: false, exitCode: null, signal: null, runnerError: null };

/**
 * THE rule for what a finished job says about its runner's health. A breaker is shared by every token of the
 * pool, so it MUST judge only the runner, never the request: otherwise one token could open it for all
 * (five scans with timeoutSec: 1 did).
 * - failure: the runner was lost mid-job, or never reported the end by the deadline; the runner reports an error of its own (nmap could not be spawned,
 *   is missing, or left an unusable report); nmap died by a signal the caller did not cause (a crash, SIGSEGV,
 *   SIGABRT, the kernel's OOM kill, prlimit's CPU limit);
 * - neutral: a cancel; a timeout (the caller chose timeoutSec); nmap exiting non-zero on its own, which is
 *   nmap refusing its arguments or targets; a refused dispatch;
 * - success: nmap exited 0, whether the hosts were up or down.
 */
export function verdictOf(end: JobEnd): 'success' | 'failure' | 'neutral' {
  if (end.runnerLost || end.missedDeadline) return 'failure';
  if (end.cancelled) return 'neutral';
  if (end.runnerError) return 'failure';
  if (end.timedOut) return 'neutral';
  if (end.signal !== null) return 'failure';
  return end.exitCode === 0 ? 'success' : 'neutral';
}

/** A probe that ended without a verdict (cancelled, rejected): let another one through. */
export function onProbeAbandoned(b: Breaker, jobId: string): Breaker {
  return b.state === 'HALF_OPEN' && b.probeJobId === jobId ? { ...b, probeJobId: null } : b;
}

/** The alarm: OPEN becomes HALF_OPEN once its time has come. */
export function onTimer(b: Breaker, now: number): Breaker {
  if (b.state !== 'OPEN' || b.halfOpenAt === null || now < b.halfOpenAt) return b;
  return { ...move(b, 'HALF_OPEN', now, 'recovery timeout passed'), halfOpenAt: null, probeJobId: null };
}

/** Admin actions. */
export function reset(b: Breaker, now: number, settings: BreakerSettings): Breaker {
  return {
    ...move(b, 'CLOSED', now, 'reset by admin'),
    consecutiveFailures: 0,
    recoveryTimeoutSec: settings.recoveryTimeoutSec,
    openedAt: null,
    halfOpenAt: null,
    probeJobId: null,
  };
}

export function forceOpen(b: Breaker, now: number, random: () => number = Math.random): Breaker {
  return open(b, now, b.recoveryTimeoutSec, 'forced open by admin', random);
}

export function forceClose(b: Breaker, now: number): Breaker {
  return {
    ...move(b, 'CLOSED', now, 'forced closed by admin'),
    consecutiveFailures: 0,
    openedAt: null,
    halfOpenAt: null,
    probeJobId: null,
  };
}

/** Seconds until a new job could be admitted (for retryAfterSec), or 0 if it could be now. */
export function retryAfterSec(b: Breaker, now: number): number {
  if (admits(b)) return 0;
  if (b.state === 'OPEN' && b.halfOpenAt !== null) return Math.max(1, Math.ceil((b.halfOpenAt - now) / 1000));
  return 5; // HALF_OPEN with a probe in flight: soon, once the probe ends
}
