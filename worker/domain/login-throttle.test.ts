import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { ADMIN, api, BASE, json, mintToken } from '../test/helpers/runner-client.ts';
import { addressBucket, bucketsOf, LOGIN_FAILURE_LIMIT, LOGIN_WINDOW_MS, retryAfterSec } from './login-throttle.ts';

/**
 * A hostile client guessing tokens at POST /dashboard/login is throttled per address and per token prefix (10
 * failures in 10 minutes, then 429 with Retry-After); other addresses and other tokens log in as before, and the
 * throttling is audited as a security event.
 */
function login(token: string, address: string): Promise<Response> {
  return SELF.fetch(`${BASE}/dashboard/login`, {
    method: 'POST',
    headers: { 'cf-connecting-ip': address },
    body: new URLSearchParams({ token }),
    redirect: 'manual',
  });
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const randomChars = (n: number) => [...crypto.getRandomValues(new Uint8Array(n))].map((b) => ALPHABET[b % 64]).join('');

/** A wrong guess shaped like an API token (`sgt_` + 44 characters); `prefix` fixes its first characters. */
function guess(prefix = `sgt_${randomChars(8)}`): string {
  return `${prefix}${randomChars(48)}`.slice(0, 48);
}

async function expectThrottled(res: Response): Promise<number> {
  expect(res.status).toBe(429);
  const retryAfter = Number(res.headers.get('retry-after'));
  expect(retryAfter).toBeGreaterThan(0);
  expect(retryAfter).toBeLessThanOrEqual(LOGIN_WINDOW_MS / 1000);
  const body = await json(res);
  expect(body.error).toMatchObject({
    type: 'rate_limited',
    retryAfterSec: retryAfter,
    message: expect.stringMatching(/Too many failed dashboard logins/),
    recoverySuggestion: expect.stringMatching(/Wait \d+ s/),
  });
  return retryAfter;
}

type Entry = {
  action: string;
  decision: string;
  count: number;
  detail: Record<string, any>;
  kind: string;
  actor: string;
};
async function loginAudit(pool = 'default'): Promise<Entry[]> {
  return (await json(await api(`/v1/audit?pool=${pool}&kind=security&action=login.*&limit=500`, { token: ADMIN })))
    .entries;
}

describe('dashboard login throttling', () => {
  it('throttles a guessing address, and only it: others log in, a success elsewhere resets nothing', async () => {
    const hostile = '203.0.113.7';
    for (let i = 0; i < LOGIN_FAILURE_LIMIT; i++) expect((await login(guess(), hostile)).status).toBe(401);
    await expectThrottled(await login(guess(), hostile));
    // Throttled means throttled: even the right token is refused from there.
    await expectThrottled(await login(ADMIN, hostile));
    // Another address is unaffected, with the right token or a wrong one.
    expect((await login(ADMIN, '198.51.100.9')).status).toBe(303);
    expect((await login(guess(), '198.51.100.10')).status).toBe(401);
    // That success did not reset the guesser's count.
    await expectThrottled(await login(guess(), hostile));

    const throttled = (await loginAudit()).filter(
      (e) => e.action === 'login.throttled' && e.detail.reason === 'address',
    );
    expect(
      throttled.every((e) => e.kind === 'security' && e.decision === 'refused' && e.actor === 'dashboard login'),
    ).toBe(true);
    expect(throttled.reduce((sum, e) => sum + e.count, 0)).toBe(3);
    expect(throttled[0]!.detail).toMatchObject({ address: hostile, retryAfterSec: expect.any(Number) });
    const failures = (await loginAudit()).filter(
      (e) => e.action === 'login.failure' && e.detail.reason === 'invalid_token',
    );
    expect(failures.reduce((sum, e) => sum + e.count, 0)).toBe(LOGIN_FAILURE_LIMIT + 1);
    expect(failures.length).toBeLessThanOrEqual(2); // aggregated per minute
    expect((await loginAudit()).some((e) => e.action === 'login.success' && e.detail.address === '198.51.100.9')).toBe(
      true,
    );
  });

  it('counts an IPv6 client by its /64', async () => {
    for (let i = 0; i < LOGIN_FAILURE_LIMIT; i++)
      expect((await login(guess(), `2001:db8:7:1::${i + 1}`)).status).toBe(401);
    await expectThrottled(await login(ADMIN, '2001:db8:7:1:ffff:ffff:ffff:ffff'));
    expect((await login(ADMIN, '2001:db8:7:2::1')).status).toBe(303);
  });

  it('throttles a guesser spread over many addresses who aims at one token prefix; another token still logs in', async () => {
    const prefix = 'sgt_0AAAAAAA';
    for (let i = 0; i < LOGIN_FAILURE_LIMIT; i++)
      expect((await login(guess(prefix), `192.0.2.${i + 1}`)).status).toBe(401);
    await expectThrottled(await login(guess(prefix), '192.0.2.200'));
    const admin = await mintToken('admin', 'throttle-admin');
    expect((await login(admin, '192.0.2.201')).status).toBe(303);
    expect(
      (await loginAudit()).some(
        (e) => e.action === 'login.throttled' && e.detail.reason === 'prefix' && e.detail.address === '192.0.2.200',
      ),
    ).toBe(true);
  });

  it('audits a valid token that is not an admin token as a failure of that token', async () => {
    const scan = await mintToken('scan', 'not-an-admin');
    expect((await login(scan, '198.51.100.77')).status).toBe(401);
    const failure = (await loginAudit()).find((e) => e.action === 'login.failure' && e.actor === 'not-an-admin');
    expect(failure).toMatchObject({
      decision: 'refused',
      detail: { reason: 'not_admin', role: 'scan', tokenId: expect.stringMatching(/^tok_/), address: '198.51.100.77' },
    });
  });
});

describe('login throttle rules', () => {
  it('closes a bucket at the limit inside the window and opens it when the oldest counted failure leaves', () => {
    const now = 1_000_000_000;
    const nine = Array.from({ length: LOGIN_FAILURE_LIMIT - 1 }, (_, i) => now - i * 1000);
    expect(retryAfterSec(nine, now)).toBeNull();
    const ten = [...nine, now - 120_000];
    expect(retryAfterSec(ten, now)).toBe((LOGIN_WINDOW_MS - 120_000) / 1000);
    expect(retryAfterSec([...nine, now - LOGIN_WINDOW_MS], now)).toBeNull(); // that one has left the window
    expect(retryAfterSec([...ten, now - 1], now)).toBe((LOGIN_WINDOW_MS - 8000) / 1000); // the 10th newest now
  });

  it('buckets IPv6 by /64 in canonical form, IPv4 by address, and the token by its first 12 characters', () => {
    expect(addressBucket('2001:DB8:0:1::1')).toBe('2001:db8:0:1::/64');
    expect(addressBucket('2001:db8:0000:0001:abcd::9')).toBe('2001:db8:0:1::/64');
    expect(addressBucket('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressBucket('203.0.113.7')).toBe('203.0.113.7');
    expect(addressBucket('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(bucketsOf('203.0.113.7', 'sgt_3abcdefghijk')).toEqual(['address:203.0.113.7', 'prefix:sgt_3abcdefg']);
    expect(bucketsOf('203.0.113.7', '')).toEqual(['address:203.0.113.7']);
  });
});
