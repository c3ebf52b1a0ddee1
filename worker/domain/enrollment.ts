/**
 * Runner enrollment codes, the pure part. An admin creates a runner and gets a short-lived, one-time code instead
 * of its token; the runner's installer trades the code for the long-lived runner token (POST /v1/runners/enroll),
 * so the token is written to the lab host and never shown to a person.
 *
 *   enrollment code   sge_<shard><24 chars base64url>   (144 random bits; the shard is the runner's Directory shard)
 *
 * What MUST hold: a code is stored only as its SHA-256 hash; it works once, for ENROLLMENT_TTL_MS after it was
 * made, and never for a revoked runner; a newer code for the same runner supersedes an unused older one.
 * 144 bits cannot be guessed, so telling the holder of a real code *why* it no longer works (used, expired,
 * revoked) tells a guesser nothing; failed attempts are still throttled per client address (login-throttle.ts).
 */
export const ENROLLMENT_TTL_MS = 60 * 60 * 1000;
/** Failed exchanges a client address may make in the login window (LOGIN_WINDOW_MS) before it gets 429. */
export const ENROLL_FAILURE_LIMIT = 10;

const CODE = /^sge_([0-9a-f])[A-Za-z0-9_-]{24}$/;

/** The Directory shard a well-formed code lives in, or undefined for anything else. */
export function enrollmentShard(code: string): string | undefined {
  return CODE.exec(code)?.[1];
}

export function mintEnrollmentCode(shard: string, random: (bytes: number) => string): string {
  return `sge_${shard}${random(18)}`;
}

export interface EnrollmentState {
  expiresAt: number;
  usedAt: number | null;
  revokedAt: number | null;
}

export type EnrollmentVerdict = 'ok' | 'used' | 'expired' | 'revoked';

/** Whether a stored code may be redeemed now. Revoked wins over used, used over expired: the most useful answer. */
export function enrollmentVerdict(state: EnrollmentState, now: number): EnrollmentVerdict {
  if (state.revokedAt !== null) return 'revoked';
  if (state.usedAt !== null) return 'used';
  if (now >= state.expiresAt) return 'expired';
  return 'ok';
}

/** The one command an admin pastes on the lab host (README: "Installing the runner"). */
export function installCommand(origin: string, code: string, networks: readonly string[]): string {
  const server = origin.replace(/^http/, 'ws');
  const nets = networks.map((n) => ` --network ${n}`).join('');
  return `curl -fsSL ${origin}/install/runner.sh | sudo sh -s -- --server ${server} --enroll ${code}${nets}`;
}
