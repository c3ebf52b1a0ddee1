/**
 * Webhook signatures. Every delivery carries
 *
 *   X-Scangate-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>
 *
 * The key is the rule's secret as UTF-8 bytes (the whole `whsec_…` string shown once at creation). A receiver MUST
 * compute the HMAC over the raw body bytes it received (not re-serialized JSON), compare in constant time, and
 * refuse a timestamp further than its tolerance (5 minutes by default) from its own clock: the timestamp is signed,
 * so a captured delivery cannot be replayed later with a fresh one. A retried delivery is signed again with the time
 * of that attempt; its event id (in the body and X-Scangate-Event-Id) stays the same, so duplicates can be dropped.
 * Several `v1=` entries may appear (room for a secret rotation); one valid entry is enough. WebCrypto only: the
 * same code signs in the Worker and verifies in Node (the e2e receiver) and in any receiver that copies it.
 */
export const SIGNATURE_HEADER = 'X-Scangate-Signature';
export const DEFAULT_TOLERANCE_SEC = 300;

const encoder = new TextEncoder();

async function hmacHex(secret: string, message: string): Promise<string> {
  const key = await crypto.subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, [
    'sign',
  ]);
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', key, encoder.encode(message)));
  return [...mac].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** The header value for `body` sent at `timestampSec`. */
export async function signatureHeader(secret: string, timestampSec: number, body: string): Promise<string> {
  return `t=${timestampSec},v1=${await hmacHex(secret, `${timestampSec}.${body}`)}`;
}

export type VerifyResult =
  | { ok: true; timestampSec: number }
  | { ok: false; reason: 'malformed' | 'stale' | 'mismatch'; message: string };

function equalConstantTime(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/** Checks a received delivery: its header, its raw body, against the secret and the receiver's clock. */
export async function verifySignature(
  secret: string,
  header: string | null | undefined,
  body: string,
  nowSec: number,
  toleranceSec = DEFAULT_TOLERANCE_SEC,
): Promise<VerifyResult> {
  const parts = (header ?? '').split(',').map((p) => p.trim());
  const t = parts.find((p) => p.startsWith('t='))?.slice(2);
  const macs = parts.filter((p) => p.startsWith('v1=')).map((p) => p.slice(3));
  if (!t || !/^\d{1,12}$/.test(t) || macs.length === 0)
    return { ok: false, reason: 'malformed', message: `${SIGNATURE_HEADER} must be t=<seconds>,v1=<hex>` };
  const timestampSec = Number(t);
  if (Math.abs(nowSec - timestampSec) > toleranceSec)
    return {
      ok: false,
      reason: 'stale',
      message: `signed at ${timestampSec}, ${nowSec - timestampSec} s from now: outside ±${toleranceSec} s`,
    };
  const expected = await hmacHex(secret, `${t}.${body}`);
  if (!macs.some((mac) => equalConstantTime(mac, expected)))
    return { ok: false, reason: 'mismatch', message: 'no v1 signature matches this body and secret' };
  return { ok: true, timestampSec };
}
