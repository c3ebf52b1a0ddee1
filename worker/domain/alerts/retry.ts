/**
 * When a failed delivery is tried again: exponential backoff with full jitter (a uniformly random delay between 0
 * and min(cap, base·2^(attempt-1))), so many receivers failing at once do not come back in lockstep, until the
 * delivery is `windowMs` old; then it is given up. Pure: the random number is passed in.
 *
 * One base scales everything: with the production base of 30 s the cap is 1 h and the window 24 h (about 30 to 40
 * attempts); a test sets a base of a few hundred ms (Worker var ALERT_RETRY_BASE_MS) and sees the same schedule, fast.
 */
export interface RetrySchedule {
  baseMs: number;
  capMs: number;
  windowMs: number;
}

export const DEFAULT_RETRY_BASE_MS = 30_000;

export function retrySchedule(baseMs = DEFAULT_RETRY_BASE_MS): RetrySchedule {
  return { baseMs, capMs: baseMs * 120, windowMs: baseMs * 2880 };
}

/** The delay before attempt `attempt + 1`, after `attempt` (≥ 1) attempts failed; `random` is in [0, 1). */
export function backoffDelay(schedule: RetrySchedule, attempt: number, random: number): number {
  const ceiling = Math.min(schedule.capMs, schedule.baseMs * 2 ** Math.min(attempt - 1, 30));
  // At least a tenth of the base: a zero delay would retry within the same alarm and hammer the receiver.
  return Math.max(Math.floor(random * ceiling), Math.ceil(schedule.baseMs / 10));
}

/** When to try again after a failed attempt, or null when the delivery is past its window (give up). */
export function nextAttemptAt(
  schedule: RetrySchedule,
  createdAt: number,
  attempt: number,
  now: number,
  random: number,
): number | null {
  const at = now + backoffDelay(schedule, attempt, random);
  return at - createdAt > schedule.windowMs ? null : at;
}
