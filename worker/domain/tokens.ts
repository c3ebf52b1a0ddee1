/**
 * Bearer tokens. A token is shown once at minting and stored only as its SHA-256 hash. Each token and token id
 * carries its Directory shard (one hex digit), so checking a token is one lookup in one of 16 shards and no
 * single object sees every request.
 *
 *   API token     sgt_<shard><43 chars base64url>     roles: scan, admin
 *   runner token  sgr_<shard><43 chars base64url>     opens only GET /v1/runners/connect
 *   token id      tok_<shard><16 chars>
 */
export type Role = 'scan' | 'admin' | 'runner';
export type TokenKind = 'api' | 'runner';

export const SHARDS = 16;
const TOKEN = /^(sgt|sgr)_([0-9a-f])([A-Za-z0-9_-]{43})$/;
const TOKEN_ID = /^tok_([0-9a-f])[A-Za-z0-9_-]{16}$/;

function base64url(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function randomChars(bytes: number): string {
  return base64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

export function randomShard(): string {
  return (crypto.getRandomValues(new Uint8Array(1))[0]! % SHARDS).toString(16);
}

export function mintToken(kind: TokenKind, shard = randomShard()): { token: string; id: string; shard: string } {
  return {
    token: `${kind === 'api' ? 'sgt' : 'sgr'}_${shard}${randomChars(32)}`,
    id: `tok_${shard}${randomChars(12)}`,
    shard,
  };
}

/** The shard and kind of a well-formed token, or undefined for anything else. */
export function parseToken(token: string): { kind: TokenKind; shard: string } | undefined {
  const m = TOKEN.exec(token);
  return m ? { kind: m[1] === 'sgt' ? 'api' : 'runner', shard: m[2]! } : undefined;
}

export function shardOfTokenId(id: string): string | undefined {
  return TOKEN_ID.exec(id)?.[1];
}

export async function sha256(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));
}

export async function hashToken(token: string): Promise<string> {
  return [...(await sha256(token))].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** Compares two secrets in time that does not depend on where they differ (digests first, so lengths match). */
export async function secretsEqual(a: string, b: string): Promise<boolean> {
  const [x, y] = await Promise.all([sha256(a), sha256(b)]);
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= x[i]! ^ y[i]!;
  return diff === 0;
}

/** A dashboard session id (`sgs_<shard><43>`), in the given Directory shard; and its parser. */
export function mintSessionId(shard: string): string {
  return `sgs_${shard}${randomChars(32)}`;
}

export function sessionShard(id: string): string | undefined {
  return /^sgs_([0-9a-f])[A-Za-z0-9_-]{43}$/.exec(id)?.[1];
}

/** A random value for CSRF tokens and CSP nonces. */
export function randomToken(bytes = 18): string {
  return randomChars(bytes);
}

export function newId(prefix: string): string {
  return `${prefix}_${randomChars(12)}`;
}
