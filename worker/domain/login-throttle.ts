/**
 * Dashboard login throttling, the pure part: which buckets a login attempt counts against, and whether a bucket
 * is closed. A bucket MUST NOT hold more than LOGIN_FAILURE_LIMIT failures in any LOGIN_WINDOW_MS window before
 * further attempts in it are refused (429 with Retry-After). Buckets are independent: a success never resets a
 * count, so one address's (or a guesser's) failures and another's successes do not interact.
 *
 *   address       the client address (CF-Connecting-IP, set by Cloudflare's edge); an IPv6 address counts as its
 *                 /64, the block one host usually holds
 *   token prefix  the first 12 characters of the token tried (`sgt_` + shard + 7 characters for minted tokens),
 *                 kept only as a hash: slows a guesser spread over many addresses who aims at one token
 */
export const LOGIN_FAILURE_LIMIT = 10;
export const LOGIN_WINDOW_MS = 10 * 60 * 1000;
export const TOKEN_PREFIX_CHARS = 12;

/** The /64 of an IPv6 address, the address itself for IPv4 or anything else (bounded). */
export function addressBucket(address: string): string {
  const a = address.trim().toLowerCase().slice(0, 64);
  // IPv4, or IPv4 written in IPv6 (::ffff:203.0.113.7): the IPv4 address, or every such client would share a /64.
  if (a.includes('.')) return a.slice(a.lastIndexOf(':') + 1);
  if (!a.includes(':')) return a;
  const [head = '', tail] = a.split('::', 2) as [string, string | undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups =
    tail === undefined
      ? left
      : [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

/** The bucket keys an attempt counts against, before hashing: its address, and its token prefix when a token was sent. */
export function bucketsOf(address: string, token: string): string[] {
  const buckets = [`address:${addressBucket(address)}`];
  if (token) buckets.push(`prefix:${token.slice(0, TOKEN_PREFIX_CHARS)}`);
  return buckets;
}

/**
 * Seconds until a bucket with these failure times (epoch ms, any order) admits an attempt again, or null when it
 * admits one now. With `limit` failures inside the window, the bucket opens when the oldest of the newest `limit` leaves it.
 */
export function retryAfterSec(
  failures: readonly number[],
  now: number,
  limit = LOGIN_FAILURE_LIMIT,
  windowMs = LOGIN_WINDOW_MS,
): number | null {
  const recent = failures.filter((at) => at > now - windowMs).sort((x, y) => y - x);
  if (recent.length < limit) return null;
  const opensAt = recent[limit - 1]! + windowMs;
  return Math.max(1, Math.ceil((opensAt - now) / 1000));
}
