import { env, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { hashToken } from '../domain/tokens.ts';
import { ADMIN, api, json, TestRunner } from './helpers/runner-client.ts';

/**
 * Enrollment codes (worker/domain/enrollment.ts): an admin gets a one-time code, the lab host trades it for the
 * runner token. A code works once, within the hour, never for a revoked runner; a guesser learns nothing and is
 * throttled while others enroll.
 */
let nextNet = 235;

async function enrollRunner(name: string): Promise<{ id: string; net: number; code: string; body: any }> {
  const net = nextNet++;
  const res = await api('/v1/runners', {
    method: 'POST',
    token: ADMIN,
    json: { name, networks: [`127.${net}.0.0/16`], enroll: true },
  });
  expect(res.status).toBe(201);
  const body = await json(res);
  return { id: body.id, net, code: body.enrollment.code, body };
}

function exchange(code: unknown, address = '198.51.100.1'): Promise<Response> {
  return api('/v1/runners/enroll', { method: 'POST', json: { code }, headers: { 'cf-connecting-ip': address } });
}

async function auditText(): Promise<string> {
  return JSON.stringify((await json(await api('/v1/audit?kind=security&limit=500', { token: ADMIN }))).entries);
}

function directoryShardOf(runnerId: string) {
  return env.DIRECTORY.get(env.DIRECTORY.idFromName(`shard-${runnerId.slice(3, 4)}`));
}

describe('enrollment codes', () => {
  it('POST /v1/runners {enroll: true} gives a one-hour code and the install command, never the token', async () => {
    const before = Date.now();
    const { body, code, net } = await enrollRunner('enroll-shape');
    expect(body.token).toBeUndefined();
    expect(code).toMatch(/^sge_[0-9a-f][A-Za-z0-9_-]{24}$/);
    const expires = Date.parse(body.enrollment.expiresAt);
    expect(expires - before).toBeGreaterThan(59 * 60_000);
    expect(expires - before).toBeLessThanOrEqual(60 * 60_000 + 5_000);
    expect(body.enrollment.installCommand).toBe(
      `curl -fsSL https://scangate.test/install/runner.sh | sudo sh -s -- --server wss://scangate.test --enroll ${code} --network 127.${net}.0.0/16`,
    );
    // Only its hash is kept: the code is in no audit entry.
    const audit = await auditText();
    expect(audit).toContain('runner.enrollment.create');
    expect(audit).not.toContain(code);
  });

  it('works once: the token it gives opens the link; the second exchange is refused and the first token lives', async () => {
    const { id, code, net } = await enrollRunner('enroll-once');
    const res = await exchange(code);
    expect(res.status).toBe(201);
    const first = await json(res);
    expect(first).toMatchObject({
      runner: { id, name: 'enroll-once', pool: 'default' },
      networks: [`127.${net}.0.0/16`],
    });
    expect(first.token).toMatch(/^sgr_[0-9a-f][A-Za-z0-9_-]{43}$/);
    expect(first.token[4]).toBe(id[3]); // the runner's shard

    const again = await exchange(code);
    expect(again.status).toBe(401);
    expect((await json(again)).error).toMatchObject({ type: 'unauthorized', details: { reason: 'used' } });

    const self = await api('/v1/runners/self', { token: first.token });
    expect(self.status).toBe(200);
    const runner = await TestRunner.ready(first.token, { networks: [`127.${net}.0.0/16`] });
    runner.close();
    const audit = await auditText();
    expect(audit).toMatch(/"action":"runner\.enroll","decision":"accepted"/);
    expect(audit).toMatch(/"action":"runner\.enroll","decision":"refused".*"reason":"used"/);
    expect(audit).not.toContain(first.token);
  });

  it('expires after the hour (aged in storage): refused, and no token is minted', async () => {
    const { id, code } = await enrollRunner('enroll-expired');
    const hash = await hashToken(code);
    await runInDurableObject(directoryShardOf(id), (_instance, state) => {
      state.storage.sql.exec('UPDATE enrollments SET expires_at = ? WHERE hash = ?', Date.now() - 1, hash);
    });
    const res = await exchange(code);
    expect(res.status).toBe(401);
    expect((await json(res)).error.details).toEqual({ reason: 'expired' });
    const tokens = (await json(await api('/v1/tokens', { token: ADMIN }))).tokens;
    expect(tokens.filter((t: { runnerId: string | null }) => t.runnerId === id)).toEqual([]);
  });

  it('is refused once its runner is revoked', async () => {
    const { id, code } = await enrollRunner('enroll-revoked');
    expect((await api(`/v1/runners/${id}`, { method: 'DELETE', token: ADMIN })).status).toBe(200);
    const res = await exchange(code);
    expect(res.status).toBe(401);
    expect((await json(res)).error.details).toEqual({ reason: 'revoked' });
    // No new code for a revoked runner either.
    expect((await api(`/v1/runners/${id}/enrollment`, { method: 'POST', token: ADMIN })).status).toBe(404);
  });

  it("is refused once its runner's token is revoked (DELETE /v1/tokens/:id revokes the runner)", async () => {
    const net = nextNet++;
    const minted = await json(
      await api('/v1/runners', {
        method: 'POST',
        token: ADMIN,
        json: { name: 'enroll-token-revoked', networks: [`127.${net}.0.0/16`] },
      }),
    );
    const code = (await json(await api(`/v1/runners/${minted.id}/enrollment`, { method: 'POST', token: ADMIN })))
      .enrollment.code;
    const tokens = (await json(await api('/v1/tokens', { token: ADMIN }))).tokens;
    const tokenId = tokens.find((t: { runnerId: string | null }) => t.runnerId === minted.id).id;
    expect((await api(`/v1/tokens/${tokenId}`, { method: 'DELETE', token: ADMIN })).status).toBe(200);
    const res = await exchange(code);
    expect(res.status).toBe(401);
    expect((await json(res)).error.details).toEqual({ reason: 'revoked' });
  });

  it('a new code for a runner supersedes the unused old one', async () => {
    const { id, code: old, net } = await enrollRunner('enroll-again');
    const res = await api(`/v1/runners/${id}/enrollment`, { method: 'POST', token: ADMIN });
    expect(res.status).toBe(201);
    const body = await json(res);
    expect(body).toMatchObject({ id, name: 'enroll-again', networks: [`127.${net}.0.0/16`] });
    expect(body.enrollment.code).not.toBe(old);
    expect((await json(await exchange(old))).error.details).toEqual({ reason: 'revoked' });
    expect((await exchange(body.enrollment.code)).status).toBe(201);
    // Admins only.
    const scan = (
      await json(await api('/v1/tokens', { method: 'POST', token: ADMIN, json: { name: 'x', role: 'scan' } }))
    ).token;
    expect((await api(`/v1/runners/${id}/enrollment`, { method: 'POST', token: scan })).status).toBe(403);
    expect((await api(`/v1/runners/${id}/enrollment`, { method: 'POST' })).status).toBe(401);
  });

  it('a guesser gets "no such code" and is throttled after 10 tries; another address enrolls meanwhile', async () => {
    const { code } = await enrollRunner('enroll-guessed');
    const guesser = '203.0.113.66';
    const random = () => `sge_${code[4]}${crypto.randomUUID().replace(/-/g, '').slice(0, 24)}`;
    for (let i = 0; i < 10; i++) {
      const res = await exchange(i % 3 === 0 ? 'not-a-code' : random(), guesser);
      expect(res.status).toBe(401);
      expect((await json(res)).error.details).toEqual({ reason: 'unknown' });
    }
    // Closed for this address, even with the real code, which it does not spend.
    const throttled = await exchange(code, guesser);
    expect(throttled.status).toBe(429);
    expect(Number(throttled.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await json(throttled)).error.type).toBe('rate_limited');
    // Another address (the real host) enrolls with it.
    expect((await exchange(code, '198.51.100.77')).status).toBe(201);
    expect(await auditText()).toContain('runner.enroll.throttled');
  });

  it('refuses a body that is not one code', async () => {
    for (const body of [{}, { code: 'x'.repeat(65) }, { code: 'sge_0aaa', extra: 1 }]) {
      const res = await api('/v1/runners/enroll', { method: 'POST', json: body });
      expect(res.status).toBe(400);
      expect((await json(res)).error.type).toBe('validation_error');
    }
  });
});

describe('GET /install/runner.sh', () => {
  it('serves the POSIX install script for this edge, no token needed', async () => {
    const res = await api('/install/runner.sh');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/x-shellscript/);
    const script = await res.text();
    expect(script.startsWith('#!/bin/sh\n')).toBe(true);
    expect(script).toContain(['EDGE="$', '{SCANGATE_EDGE:-https://scangate.test}"'].join(''));
    expect(script).toContain('$EDGE/install/runner.sha256');
  });
});

describe('the dashboard shows the code and the exact install command', () => {
  async function logIn(): Promise<{ cookie: string; csrf: string }> {
    const res = await api('/dashboard/login', {
      method: 'POST',
      body: new URLSearchParams({ token: ADMIN }),
      redirect: 'manual',
    });
    const cookie = res.headers.get('set-cookie')!.split(';')[0]!;
    const page = await (await api('/dashboard', { headers: { cookie } })).text();
    expect(page).toContain('Add a runner');
    return { cookie, csrf: /name="csrf-token" content="([^"]+)"/.exec(page)![1]! };
  }

  it('"Add a runner" creates it and answers with its one-time install command (no-store, not in a URL)', async () => {
    const { cookie, csrf } = await logIn();
    const act = (form: Record<string, string>) =>
      api('/dashboard/actions', {
        method: 'POST',
        headers: { cookie },
        body: new URLSearchParams(form),
        redirect: 'manual',
      });
    expect((await act({ action: 'runner-create', target: 'dash-enrolled', value: '127.241.0.0/16' })).status).toBe(403);

    const res = await act({ action: 'runner-create', target: 'dash-enrolled', value: '127.241.0.0/16', csrf });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const page = await res.text();
    const command = /<code>(curl -fsSL [^<]+)<\/code>/.exec(page)?.[1];
    expect(command).toMatch(
      /^curl -fsSL https:\/\/scangate\.test\/install\/runner\.sh \| sudo sh -s -- --server wss:\/\/scangate\.test --enroll sge_[0-9a-f][\w-]{24} --network 127\.241\.0\.0\/16$/,
    );
    const code = /--enroll (\S+)/.exec(command!)![1]!;

    // Its "Enrollment code" button: a new code, and the one shown before stops working.
    const runners = (await json(await api('/v1/runners', { token: ADMIN }))).runners;
    const id = runners.find((r: { name: string }) => r.name === 'dash-enrolled').id;
    const again = await (await act({ action: 'runner-enroll', target: id, csrf })).text();
    const newer = /--enroll (sge_\S+)/.exec(again)![1]!;
    expect(newer).not.toBe(code);
    expect((await json(await exchange(code))).error.details).toEqual({ reason: 'revoked' });
    expect((await exchange(newer)).status).toBe(201);
    expect(await auditText()).toContain('bootstrap admin (dashboard)');

    // Bad input goes back to the dashboard with the reason, and creates nothing.
    const bad = await act({ action: 'runner-create', target: 'dash-bad', value: '10.0.0.1/8', csrf });
    expect(bad.status).toBe(303);
    expect(decodeURIComponent(bad.headers.get('location')!)).toContain('not a canonical CIDR');
  });
});
