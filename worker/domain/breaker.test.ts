import { describe, expect, it } from 'vitest';
import * as breaker from './breaker.ts';

const settings = { failureThreshold: 3, recoveryTimeoutSec: 30, maxRecoveryTimeoutSec: 60 };
const fail = { type: 'execution_error', message: 'nmap exited 1' };
const mid = () => 0.5; // no jitter

function failTimes(b: breaker.Breaker, n: number, at = 0): breaker.Breaker {
  for (let i = 0; i < n; i++) b = breaker.onFailure(b, at, `j${i}`, fail, settings, mid);
  return b;
}

describe('circuit breaker state machine', () => {
  it('opens after the threshold of consecutive failures, and a success in between resets the count', () => {
    let b = failTimes(breaker.newBreaker(settings), 2);
    expect(b.state).toBe('CLOSED');
    b = breaker.onSuccess(b, 1, 'ok', settings);
    b = failTimes(b, 2);
    expect(b.state).toBe('CLOSED');
    b = breaker.onFailure(b, 1000, 'j9', fail, settings, mid);
    expect(b.state).toBe('OPEN');
    expect(b.halfOpenAt).toBe(1000 + 30_000);
    expect(breaker.admits(b)).toBe(false);
    expect(breaker.retryAfterSec(b, 1000)).toBe(30);
    expect(b.transitions.at(-1)).toMatchObject({ from: 'CLOSED', to: 'OPEN', reason: '3 consecutive failures' });
  });

  it('jitters the recovery timeout by ±10 %', () => {
    const early = failTimes(breaker.newBreaker(settings), 3);
    expect(
      breaker.onFailure(failTimes(breaker.newBreaker(settings), 2), 0, 'x', fail, settings, () => 0).halfOpenAt,
    ).toBe(27_000);
    expect(
      breaker.onFailure(failTimes(breaker.newBreaker(settings), 2), 0, 'x', fail, settings, () => 1).halfOpenAt,
    ).toBe(33_000);
    expect(early.halfOpenAt).toBe(30_000);
  });

  it('half-opens on the timer, not before, and lets exactly one probe through', () => {
    let b = failTimes(breaker.newBreaker(settings), 3);
    expect(breaker.onTimer(b, 29_999).state).toBe('OPEN');
    b = breaker.onTimer(b, 30_000);
    expect(b.state).toBe('HALF_OPEN');
    expect(breaker.admits(b)).toBe(true);
    b = breaker.onDispatch(b, 'probe1');
    expect(breaker.admits(b)).toBe(false);
    expect(breaker.retryAfterSec(b, 30_000)).toBe(5);
  });

  it('closes when the probe succeeds and resets the timeout', () => {
    let b = breaker.onDispatch(breaker.onTimer(failTimes(breaker.newBreaker(settings), 3), 30_000), 'probe1');
    b = breaker.onSuccess(b, 31_000, 'probe1', settings);
    expect(b.state).toBe('CLOSED');
    expect(b.recoveryTimeoutSec).toBe(30);
    expect(b.transitions.map((t) => t.to)).toEqual(['OPEN', 'HALF_OPEN', 'CLOSED']);
  });

  it('reopens with ×1.5 the timeout when the probe fails, capped at the maximum', () => {
    let b = breaker.onDispatch(breaker.onTimer(failTimes(breaker.newBreaker(settings), 3), 30_000), 'probe1');
    b = breaker.onFailure(b, 31_000, 'probe1', fail, settings, mid);
    expect(b.state).toBe('OPEN');
    expect(b.recoveryTimeoutSec).toBe(45);
    expect(b.halfOpenAt).toBe(31_000 + 45_000);
    b = breaker.onFailure(
      breaker.onDispatch(breaker.onTimer(b, 76_000), 'probe2'),
      77_000,
      'probe2',
      fail,
      settings,
      mid,
    );
    expect(b.recoveryTimeoutSec).toBe(60);
  });

  it('frees the probe slot when the probe is cancelled or rejected', () => {
    let b = breaker.onDispatch(breaker.onTimer(failTimes(breaker.newBreaker(settings), 3), 30_000), 'probe1');
    b = breaker.onProbeAbandoned(b, 'probe1');
    expect(b.state).toBe('HALF_OPEN');
    expect(breaker.admits(b)).toBe(true);
  });

  it('keeps counts, the last 100 transitions and the last 10 errors', () => {
    let b = breaker.newBreaker(settings);
    for (let i = 0; i < 80; i++) {
      b = failTimes(b, 3, i * 100_000);
      b = breaker.onTimer(b, i * 100_000 + 99_000);
      b = breaker.forceClose(b, i * 100_000 + 99_500);
    }
    expect(b.transitions).toHaveLength(100);
    expect(b.errors).toHaveLength(10);
    expect(b.counts).toEqual({ successes: 0, failures: 240, opened: 80 });
  });

  it('has admin reset, force open and force close', () => {
    let b = breaker.forceOpen(breaker.newBreaker(settings), 0, mid);
    expect(b.state).toBe('OPEN');
    expect(b.halfOpenAt).toBe(30_000);
    b = breaker.reset(failTimes(b, 1), 5, settings);
    expect(b).toMatchObject({ state: 'CLOSED', consecutiveFailures: 0, halfOpenAt: null });
    b = breaker.forceClose(breaker.forceOpen(b, 6, mid), 7);
    expect(b.state).toBe('CLOSED');
    expect(b.transitions.map((t) => t.reason)).toEqual([
      'forced open by admin',
      'reset by admin',
      'forced open by admin',
      'forced closed by admin',
    ]);
  });
});

describe('verdictOf: what a finished job says about its runner', () => {
  const end = (over: Partial<breaker.JobEnd>): breaker.JobEnd => ({
    cancelled: false,
    timedOut: false,
    exitCode: 0,
    signal: null,
    runnerError: null,
    ...over,
  });
  it.each([
    ['nmap exited 0 (hosts up or down)', end({}), 'success'],
    ['the caller cancelled', end({ cancelled: true, exitCode: null, signal: 'SIGTERM' }), 'neutral'],
    ['the timeout the caller chose ran out', end({ timedOut: true, exitCode: null, signal: 'SIGTERM' }), 'neutral'],
    [
      'the timeout ran out and nmap ignored SIGTERM',
      end({ timedOut: true, exitCode: null, signal: 'SIGKILL' }),
      'neutral',
    ],
    ['nmap refused its arguments or targets (exit 1)', end({ exitCode: 1 }), 'neutral'],
    ['nmap crashed', end({ exitCode: null, signal: 'SIGSEGV' }), 'failure'],
    ['nmap was killed (OOM, CPU limit)', end({ exitCode: null, signal: 'SIGKILL' }), 'failure'],
    ['the runner could not start nmap', end({ exitCode: null, runnerError: { type: 'execution_error' } }), 'failure'],
    ['the runner was lost mid-job', end({ runnerLost: true, exitCode: null }), 'failure'],
  ] as const)('%s → %s', (_name, e, verdict) => {
    expect(breaker.verdictOf(e)).toBe(verdict);
  });
});
