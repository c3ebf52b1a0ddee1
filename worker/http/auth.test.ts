import { describe, expect, it } from 'vitest';
import { ADMIN, api, json, mintRunner, mintToken } from '../test/helpers/runner-client.ts';

describe('auth matrix', () => {
  const routes: Array<[string, string, 'scan' | 'admin']> = [
    ['POST', '/v1/validate', 'scan'],
    ['POST', '/v1/scans', 'scan'],
    ['GET', '/v1/scans', 'scan'],
    ['GET', '/v1/scripts', 'scan'],
    ['GET', '/v1/policy', 'admin'],
    ['PUT', '/v1/policy', 'admin'],
    ['GET', '/v1/breakers', 'admin'],
    ['GET', '/v1/runners', 'admin'],
    ['POST', '/v1/runners', 'admin'],
    ['POST', '/v1/tokens', 'admin'],
    ['GET', '/v1/audit', 'admin'],
    ['GET', '/metrics', 'admin'],
  ];

  it.each(routes)('%s %s: 401 with WWW-Authenticate without a token or with a bad one', async (method, path) => {
    for (const token of [undefined, 'nope', 'sgt_0AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA']) {
      const res = await api(path, { method, ...(token && { token }), json: {} });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer realm="scangate"');
      const body = await json(res);
      expect(body.error.type).toBe('unauthorized');
      expect(body.error.recoverySuggestion).toMatch(/Authorization: Bearer/);
    }
  });

  it.each(routes.filter(([, , role]) => role === 'admin'))('%s %s: 403 for a scan token', async (method, path) => {
    const scan = await mintToken('scan');
    const res = await api(path, { method, token: scan, json: { name: 'x', role: 'scan' } });
    expect(res.status).toBe(403);
    expect((await json(res)).error.type).toBe('forbidden');
  });

  it('a runner token opens nothing but the runner endpoint', async () => {
    const runner = await mintRunner('auth-runner');
    for (const [method, path] of routes) {
      const res = await api(path, { method, token: runner.token, json: {} });
      expect(res.status, `${method} ${path}`).toBe(403);
      expect((await json(res)).error.message).toMatch(/runner token/);
    }
  });

  it('refuses the runner endpoint to API tokens and bad tokens before any Durable Object', async () => {
    const scan = await mintToken('scan');
    const admin = await mintToken('admin');
    for (const [token, status] of [
      [scan, 403],
      [admin, 403],
      ['garbage', 401],
      [undefined, 401],
    ] as const) {
      const res = await api('/v1/runners/connect', { headers: { upgrade: 'websocket' }, ...(token && { token }) });
      expect(res.status).toBe(status);
      expect(res.webSocket).toBeNull();
    }
  });

  it('mints tokens shown once and stored as hashes; revocation takes effect at once', async () => {
    const minted = await json(
      await api('/v1/tokens', { method: 'POST', token: ADMIN, json: { name: 'ci', role: 'scan' } }),
    );
    expect(minted).toMatchObject({ name: 'ci', role: 'scan' });
    expect(minted.token).toMatch(/^sgt_[0-9a-f][A-Za-z0-9_-]{43}$/);
    const list = await json(await api('/v1/tokens', { token: ADMIN }));
    const listed = list.tokens.find((t: { id: string }) => t.id === minted.id);
    expect(listed).toMatchObject({ name: 'ci', role: 'scan', revokedAt: null });
    expect(JSON.stringify(list)).not.toContain(minted.token);
    expect((await api('/v1/scans', { token: minted.token })).status).toBe(200);
    expect((await api(`/v1/tokens/${minted.id}`, { method: 'DELETE', token: ADMIN })).status).toBe(200);
    expect((await api('/v1/scans', { token: minted.token })).status).toBe(401);
  });

  it('an admin token minted by the bootstrap admin can mint in turn', async () => {
    const admin = await mintToken('admin', 'second admin');
    expect((await api('/v1/tokens', { method: 'POST', token: admin, json: { name: 'x', role: 'scan' } })).status).toBe(
      201,
    );
  });

  it('answers unknown routes with the error shape', async () => {
    const res = await api('/v2/nothing');
    expect(res.status).toBe(404);
    expect((await json(res)).error).toMatchObject({ type: 'not_found' });
  });

  it('sets secure headers and a request id', async () => {
    const res = await api('/health');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-request-id')).toMatch(/.+/);
  });
});

describe('the script catalog through the API', () => {
  it('lists every script with its class, reason and arguments, and which ones this policy lets run', async () => {
    const scan = await mintToken('scan');
    const res = await api('/v1/scripts', { token: scan });
    expect(res.status).toBe(200);
    const body = await json<{
      nmapReleases: string[];
      scripts: Array<{ name: string; class: string; allowed: boolean; why: string; categories: string[] }>;
    }>(res);
    expect(body.nmapReleases).toEqual(['7.90', '7.99']);
    expect(body.scripts.length).toBeGreaterThan(600);
    const byName = new Map(body.scripts.map((s) => [s.name, s]));
    expect(byName.get('http-title')).toMatchObject({ class: 'target-only', allowed: true });
    expect(byName.get('http-referer-checker')).toMatchObject({ class: 'off-target', allowed: false });
    expect(byName.get('broadcast-ping')).toMatchObject({ class: 'no-target', allowed: false });
    expect(byName.get('ssl-heartbleed')!.why).toMatch(/trigger/);

    const allowed = await json<{ scripts: Array<{ allowed: boolean; class: string; categories: string[] }> }>(
      await api('/v1/scripts?allowed=true&category=default', { token: scan }),
    );
    expect(allowed.scripts.length).toBeGreaterThan(50);
    for (const s of allowed.scripts) {
      expect(s.allowed).toBe(true);
      expect(s.categories).toContain('default');
    }
    expect((await api('/v1/scripts?category=../x', { token: scan })).status).toBe(400);
  });
});

describe('validation through the API', () => {
  it('returns the canonical argv for a good request', async () => {
    const scan = await mintToken('scan');
    const res = await api('/v1/validate', {
      method: 'POST',
      token: scan,
      json: { target: '10.0.0.5', template: 'quick' },
    });
    expect(res.status).toBe(200);
    expect(await json(res)).toMatchObject({
      valid: true,
      argv: ['--top-ports', '100', '-Pn', '-n', '-T4', '--max-parallelism', '10', '--', '10.0.0.5'],
      needsPrivilege: false,
    });
  });

  it.each([
    [{ target: '10.0.0.0/21' }, /2048 addresses/, /\/22/],
    [{ target: '10.0.0.5', args: '-A' }, /intrusive scans are disabled by policy/, /admin.*allowIntrusive/],
    [{ target: '8.8.8.8' }, /not inside an allowed network/, /10\.0\.0\.0\/8/],
    [{ target: '10.0.0.5', args: '-oN /tmp/x' }, /-oN is an output option/, /Remove it/],
  ])('refuses %j with the message and the fix', async (body, message, suggestion) => {
    const scan = await mintToken('scan');
    for (const path of ['/v1/validate', '/v1/scans']) {
      const res = await api(path, { method: 'POST', token: scan, json: body });
      expect(res.status).toBe(400);
      const { error } = await json(res);
      expect(error.type).toBe('validation_error');
      expect(error.message).toMatch(message);
      expect(error.recoverySuggestion).toMatch(suggestion);
    }
  });

  it('refuses malformed bodies as validation errors naming the field', async () => {
    const scan = await mintToken('scan');
    for (const [body, field] of [
      [{}, 'target'],
      [{ target: 5 }, 'target'],
      [{ target: '10.0.0.5', timeoutSec: 99999 }, 'timeoutSec'],
      [{ target: '10.0.0.5', extra: 1 }, 'json'],
    ] as const) {
      const res = await api('/v1/scans', { method: 'POST', token: scan, json: body });
      expect(res.status).toBe(400);
      expect((await json(res)).error.message).toContain(field);
    }
    const notJson = await api('/v1/scans', {
      method: 'POST',
      token: scan,
      body: '{nope',
      headers: { 'content-type': 'application/json' },
    });
    expect(notJson.status).toBe(400);
  });
});
