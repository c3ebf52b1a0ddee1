/**
 * Reconnect delay: exponential backoff with full jitter (AWS architecture blog, "Exponential Backoff And
 * Jitter"): a uniform draw from [0, min(cap, base · 2^attempt)). Full jitter spreads a fleet of runners that
 * lost the edge at the same moment, so they do not reconnect in lockstep. One line of arithmetic, so no
 * library: the retry wrappers on npm own the loop, and here the loop is the link's own.
 */
export interface BackoffOptions {
  baseMs: number;
  capMs: number;
  random: () => number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 1000, capMs: 60_000, random: Math.random };

export function reconnectDelayMs(attempt: number, options: BackoffOptions = DEFAULT_BACKOFF): number {
  const ceiling = Math.min(options.capMs, options.baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(options.random() * ceiling);
}
