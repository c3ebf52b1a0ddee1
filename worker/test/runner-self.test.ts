import { describe, expect, it } from 'vitest';
import type { EdgeMessage, JobDispatch } from '../../shared/protocol/index.ts';
import { ADMIN, api, json, mintRunner, mintToken, runnersOnOwnNets } from './helpers/runner-client.ts';

/** The runner self-check (GET /v1/runners/self) and the order of checks on the runner endpoint, in real workerd. */
const newRunner = runnersOnOwnNets('self-runner', 220);
const isDispatch = (m: EdgeMessage): m is JobDispatch => m.type === 'job.dispatch';

describe('GET /v1/runners/self', () => {
  it('tells an offline runner its name, grant and the pool policy', async () => {
    const minted = await mintRunner('self-offline', ['127.229.0.0/16']);
    const res = await api('/v1/runners/self', { token: minted.token });
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body).toMatchObject({
      runner: { id: minted.id, name: 'self-offline', pool: 'default' },
      grantedNetworks: ['127.229.0.0/16'],
      link: { online: false, declaredNetworks: null },
      breaker: 'CLOSED',
      edge: { protocols: [1], heartbeatSec: 30 },
      policy: { allowIntrusive: false, allowEvasion: false },
    });
    expect(body.policy.allowedNetworks).toContain('127.0.0.0/8');
  });

  it('answers while the runner is live without touching its link: still online, still dispatched to', async () => {
    const { net, minted, runner } = await newRunner({ privileged: true });
    for (let i = 0; i < 3; i++) {
      const body = await json(await api('/v1/runners/self', { token: minted.token }));
      expect(body.link).toMatchObject({
        online: true,
        declaredNetworks: [`127.${net}.0.0/16`],
        privileged: true,
        nmapVersion: '7.93',
      });
    }
    expect(runner.closed).toBeUndefined();
    const listed = (await json(await api('/v1/runners', { token: ADMIN }))).runners.find(
      (r: { id: string }) => r.id === minted.id,
    );
    expect(listed.online).toBe(true);
    // The link still carries work: a scan of its network reaches it.
    const scanToken = await mintToken('scan');
    const created = await api('/v1/scans', {
      method: 'POST',
      token: scanToken,
      json: { target: `127.${net}.0.1`, args: '-sT -p 22' },
    });
    expect(created.status).toBe(202);
    expect((await runner.next(isDispatch)).argv).toContain(`127.${net}.0.1`);
    expect(runner.closed).toBeUndefined();
  });

  it('is for runner tokens only: 401 without one, 403 for API tokens, 401 once revoked', async () => {
    const minted = await mintRunner('self-revoked', ['127.228.0.0/16']);
    expect((await api('/v1/runners/self')).status).toBe(401);
    expect((await api('/v1/runners/self', { token: 'sgr_0garbagegarbagegarbagegarbagegarbagegarbagega' })).status).toBe(
      401,
    );
    const scan = await mintToken('scan', 'self-scan');
    const forbidden = await api('/v1/runners/self', { token: scan });
    expect(forbidden.status).toBe(403);
    expect((await json(forbidden)).error.message).toMatch(/runner tokens/);
    expect((await api('/v1/runners/self', { token: ADMIN })).status).toBe(403);
    expect((await api(`/v1/runners/${minted.id}`, { method: 'DELETE', token: ADMIN })).status).toBe(200);
    const revoked = await api('/v1/runners/self', { token: minted.token });
    expect(revoked.status).toBe(401);
    expect((await json(revoked)).error.type).toBe('unauthorized');
  });
});

describe('GET /v1/runners/connect checks who before how', () => {
  it.each([
    ['no token, no upgrade', undefined, false, 401],
    ['no token, an upgrade', undefined, true, 401],
    ['a bad token, no upgrade', 'sgr_0garbagegarbagegarbagegarbagegarbagegarbagega', false, 401],
  ] as const)('%s → %s', async (_name, token, upgrade, status) => {
    const res = await api('/v1/runners/connect', {
      ...(upgrade && { headers: { upgrade: 'websocket' } }),
      ...(token && { token }),
    });
    expect(res.status).toBe(status);
    expect((await json(res)).error.type).toBe('unauthorized');
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
  });

  it('a scan token without an upgrade → 403; a runner token without an upgrade → 400 that names the self-check', async () => {
    const scan = await mintToken('scan', 'connect-scan');
    expect((await api('/v1/runners/connect', { token: scan })).status).toBe(403);
    const minted = await mintRunner('connect-no-upgrade', ['127.227.0.0/16']);
    const res = await api('/v1/runners/connect', { token: minted.token });
    expect(res.status).toBe(400);
    const { error } = await json(res);
    expect(error).toMatchObject({ type: 'validation_error', message: 'This endpoint takes a WebSocket upgrade' });
    expect(error.recoverySuggestion).toContain('GET /v1/runners/self');
  });
});
