import { env, evictDurableObject } from 'cloudflare:test';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { EdgeMessage, JobDispatch } from '../../shared/protocol/index.ts';
import { getCoordinator } from '../objects/coordinator.do.ts';
import { ADMIN, api, json, mintToken, runnersOnOwnNets } from './helpers/runner-client.ts';

const isDispatch = (m: EdgeMessage): m is JobDispatch => m.type === 'job.dispatch';

const newRunner = runnersOnOwnNets('admin-runner', 200);
async function setup() {
  const { net, minted, runner } = await newRunner();
  return { net, minted, runner, token: await mintToken('scan', `scanner-${net}`) };
}

describe('policy', () => {
  it('is validated, clamped with every clamp reported, stored, and audited', async () => {
    const res = await api('/v1/policy', {
      method: 'PUT',
      token: ADMIN,
      json: { maxHosts: 999_999, allowIntrusive: true, breaker: { recoveryTimeoutSec: 5 } },
    });
    onTestFinished(async () => {
      await api('/v1/policy', {
        method: 'PUT',
        token: ADMIN,
        json: { maxHosts: 1024, allowIntrusive: false, breaker: { recoveryTimeoutSec: 120 } },
      });
    });
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body.policy).toMatchObject({ maxHosts: 65536, allowIntrusive: true, breaker: { recoveryTimeoutSec: 30 } });
    expect(body.clamps).toEqual(
      expect.arrayContaining([
        { key: 'breaker.recoveryTimeoutSec', requested: 5, applied: 30, range: [30, 600] },
        { key: 'maxHosts', requested: 999_999, applied: 65536, range: [1, 65536] },
      ]),
    );
    expect(body.clamps).toHaveLength(2);
    expect((await json(await api('/v1/policy', { token: ADMIN }))).policy.maxHosts).toBe(65536);
    const scan = await mintToken('scan');
    const v = await api('/v1/validate', { method: 'POST', token: scan, json: { target: '10.0.0.5', args: '-A' } });
    expect(v.status).toBe(200); // intrusive now allowed
    const audit = (await json(await api('/v1/audit', { token: ADMIN }))).entries;
    const change = audit.find((e: { action: string }) => e.action === 'policy.update');
    expect(change).toMatchObject({ actor: 'bootstrap admin', decision: 'accepted' });
    expect(change.detail.clamps).toHaveLength(2);
  });

  it('refuses a bad policy with the field, and keeps the old one', async () => {
    for (const bad of [{ maxHosts: 'lots' }, { allowedNetworks: ['10.0.0.1/8'] }, { nope: true }]) {
      const res = await api('/v1/policy', { method: 'PUT', token: ADMIN, json: bad });
      expect(res.status).toBe(400);
      expect((await json(res)).error.type).toBe('validation_error');
    }
    expect((await json(await api('/v1/policy', { token: ADMIN }))).policy.maxHosts).toBe(1024);
  });
});

describe('audit', () => {
  it('records who asked for what, and the decision, for accepted and refused scans', async () => {
    const { net, token } = await setup();
    await api('/v1/scans', { method: 'POST', token, json: { target: `127.${net}.0.1`, args: '-sT -p 22' } });
    await api('/v1/scans', { method: 'POST', token, json: { target: '8.8.8.8' } });
    const entries = (await json(await api('/v1/audit?limit=10', { token: ADMIN }))).entries;
    const accepted = entries.find(
      (e: { action: string; decision: string; actor: string }) =>
        e.action === 'scan.create' && e.decision === 'accepted' && e.actor === `scanner-${net}`,
    );
    expect(accepted.detail).toMatchObject({
      targets: [`127.${net}.0.1`],
      argv: ['-sT', '-p', '22', '-Pn', '-n', '-T4', '--max-parallelism', '10', '--', `127.${net}.0.1`],
    });
    const refused = entries.find(
      (e: { action: string; decision: string; actor: string }) =>
        e.action === 'scan.create' && e.decision === 'refused' && e.actor === `scanner-${net}`,
    );
    expect(refused.detail).toMatchObject({ target: '8.8.8.8', reason: 'validation_error' });
    expect(refused.at).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  it('pages newest first with a cursor', async () => {
    const first = await json(await api('/v1/audit?limit=2', { token: ADMIN }));
    expect(first.entries).toHaveLength(2);
    const second = await json(await api(`/v1/audit?limit=2&cursor=${first.nextCursor}`, { token: ADMIN }));
    expect(second.entries[0].id).toBeLessThan(first.entries[1].id);
  });
});

describe('metrics and health', () => {
  it('exposes Prometheus text that a parser accepts, with the documented families', async () => {
    const { net, token, runner } = await setup();
    const id = (
      await json(
        await api('/v1/scans', { method: 'POST', token, json: { target: `127.${net}.0.1`, args: '-sT -p 22' } }),
      )
    ).scan.id;
    await runner.next((m) => isDispatch(m) && m.jobId === id);
    runner.finish(id, ['x'.repeat(100)]);
    await runner.next((m) => m.type === 'ack' && m.jobId === id && m.seq === 2);
    await api('/v1/scans', { method: 'POST', token, json: { target: '8.8.8.8' } });
    const res = await api('/metrics', { token: ADMIN });
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const families = parsePrometheusTextFormat(await res.text()) as Array<{
      name: string;
      type: string;
      metrics: Array<{ labels?: Record<string, string>; value?: string; buckets?: Record<string, string> }>;
    }>;
    const byName = new Map(families.map((f) => [f.name, f]));
    for (const name of [
      'scangate_scans_total',
      'scangate_scan_duration_seconds',
      'scangate_rejections_total',
      'scangate_breaker_state',
      'scangate_runners_connected',
      'scangate_queue_depth',
      'scangate_relayed_bytes_total',
    ]) {
      expect(byName.has(name), name).toBe(true);
    }
    expect(byName.get('scangate_scan_duration_seconds')!.type).toBe('HISTOGRAM');
    expect(Object.keys(byName.get('scangate_scan_duration_seconds')!.metrics[0]!.buckets!)).toEqual([
      '1',
      '5',
      '15',
      '30',
      '60',
      '120',
      '300',
      '600',
      '1200',
      '1800',
      '3600',
      '+Inf',
    ]);
    expect(Number(byName.get('scangate_relayed_bytes_total')!.metrics[0]!.value)).toBeGreaterThanOrEqual(100);
    expect(byName.get('scangate_rejections_total')!.metrics.some((m) => m.labels?.reason === 'validation_error')).toBe(
      true,
    );
    expect(
      byName
        .get('scangate_breaker_state')!
        .metrics.some(
          (m) => m.labels?.runner === `admin-runner-${net}` && m.labels?.state === 'CLOSED' && m.value === '1',
        ),
    ).toBe(true);
  });

  it('reports healthy with a connected runner and closed breakers', async () => {
    await setup();
    const health = await json(await api('/health'));
    expect(health.checks.runners.ok).toBe(true);
    expect(['healthy', 'degraded']).toContain(health.status);
  });
});

describe('durability', () => {
  it('keeps jobs and their output across a Durable Object restart, with the runner link alive', async () => {
    const { net, token, runner } = await setup();
    const id = (
      await json(
        await api('/v1/scans', { method: 'POST', token, json: { target: `127.${net}.0.1`, args: '-sT -p 22' } }),
      )
    ).scan.id;
    await runner.next((m) => isDispatch(m) && m.jobId === id);
    runner.send({ type: 'job.output', jobId: id, seq: 1, stream: 'stdout', data: 'before restart\n' });
    await runner.next((m) => m.type === 'ack' && m.jobId === id && m.seq === 1);
    await evictDurableObject(getCoordinator(env));
    expect((await json(await api(`/v1/scans/${id}`, { token }))).scan).toMatchObject({
      status: 'dispatched',
      output: 'before restart\n',
    });
    runner.send({ type: 'job.output', jobId: id, seq: 2, stream: 'stdout', data: 'after restart\n' });
    runner.send({
      type: 'job.finished',
      jobId: id,
      lastSeq: 2,
      exitCode: 0,
      signal: null,
      timedOut: false,
      cancelled: false,
      durationMs: 9,
      truncated: { stdout: false, stderr: false },
      report: null,
      error: null,
    });
    await runner.next((m) => m.type === 'ack' && m.jobId === id && m.seq === 3);
    expect((await json(await api(`/v1/scans/${id}`, { token }))).scan).toMatchObject({
      status: 'succeeded',
      output: 'before restart\nafter restart\n',
    });
  });
});
