import { env, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { getCoordinator, type Coordinator } from '../objects/coordinator.do.ts';
import { utf8ByteLength } from '../../shared/protocol/index.ts';
import { ADMIN, api, json, mintToken, runnersOnOwnNets, type TestRunner } from './helpers/runner-client.ts';

/**
 * A runner token must not be able to store unbounded output: the edge enforces the policy's caps itself (in UTF-8
 * bytes), stores nothing for a job that has ended, and a scan stays readable at the largest cap the policy allows,
 * multi-byte output included. The owner of the scan, and other scans, read normally throughout.
 */
const newRunner = runnersOnOwnNets('output-runner', 230);

async function dispatchedScan(runner: TestRunner, net: number, token: string): Promise<string> {
  const from = runner.received.length;
  const res = await api('/v1/scans', { method: 'POST', token, json: { target: `127.${net}.0.1`, args: '-sT -p 80' } });
  expect(res.status).toBe(202);
  const dispatch = await runner.next((m) => m.type === 'job.dispatch', 5000, from);
  const jobId = (dispatch as { jobId: string }).jobId;
  runner.send({ type: 'job.accepted', jobId });
  return jobId;
}

async function scanWhenDone(id: string, token: string): Promise<Record<string, any>> {
  const res = await api(`/v1/scans/${id}?wait=1`, { token });
  expect(res.status).toBe(200);
  return (await json(res)).scan;
}

async function waitForStatus(id: string, token: string, statuses: string[]): Promise<Record<string, any>> {
  for (;;) {
    const scan = await scanWhenDone(id, token);
    if (statuses.includes(scan.status)) return scan;
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function setCaps(stdoutMaxBytes: number, stderrMaxBytes: number): Promise<void> {
  const res = await api('/v1/policy', {
    method: 'PUT',
    token: ADMIN,
    json: { output: { stdoutMaxBytes, stderrMaxBytes } },
  });
  expect(res.status).toBe(200);
}

describe('edge output caps against a rogue runner', () => {
  it('truncates output past the policy cap at the edge, counted in UTF-8 bytes, and flags it', async () => {
    const { net, runner } = await newRunner();
    const owner = await mintToken('scan', `output-owner-${net}`);
    await setCaps(64 * 1024, 16 * 1024);
    const jobId = await dispatchedScan(runner, net, owner);
    // 3 × 60 000 "€" (3 bytes each): 540 000 bytes against a 65 536-byte cap, and stderr past its own cap.
    const chunk = '€'.repeat(20_000);
    const frames = [...Array.from({ length: 9 }, () => chunk)];
    frames.forEach((data, i) => void runner.send({ type: 'job.output', jobId, seq: i + 1, stream: 'stdout', data }));
    runner.send({ type: 'job.output', jobId, seq: 10, stream: 'stderr', data: 'é'.repeat(20_000) });
    // The rogue runner claims it truncated nothing.
    runner.send({
      type: 'job.finished',
      jobId,
      lastSeq: 10,
      exitCode: 0,
      signal: null,
      timedOut: false,
      cancelled: false,
      durationMs: 10,
      truncated: { stdout: false, stderr: false },
      report: null,
      error: null,
    });
    const scan = await waitForStatus(jobId, owner, ['succeeded']);
    expect(scan.truncated).toEqual({ stdout: true, stderr: true });
    expect(utf8ByteLength(scan.output)).toBe(scan.outputBytes);
    expect(scan.outputBytes).toBeLessThanOrEqual(64 * 1024 + 16 * 1024);
    expect(scan.outputBytes).toBeGreaterThan(64 * 1024 - 3 + 16 * 1024 - 2);
    expect(scan.output.startsWith('€€€')).toBe(true);
    expect(scan.output).not.toContain('\ufffd');
  });

  it('stores nothing for a job that has ended, and the scan keeps reading the same', async () => {
    const { net, runner } = await newRunner();
    const owner = await mintToken('scan', `ended-owner-${net}`);
    await setCaps(1024 * 1024, 256 * 1024);
    const jobId = await dispatchedScan(runner, net, owner);
    runner.finish(jobId, ['Nmap scan report for 127.0.0.1\n']);
    const before = await waitForStatus(jobId, owner, ['succeeded']);
    const from = runner.received.length;
    runner.send({ type: 'job.output', jobId, seq: 2, stream: 'stdout', data: 'FORGED: 22/tcp open ssh\n'.repeat(100) });
    // Acked (so an honest runner's journal would drain), but not stored.
    await runner.next((m) => m.type === 'ack' && m.jobId === jobId && m.seq === 2, 5000, from);
    const after = await scanWhenDone(jobId, owner);
    expect(after.output).toBe(before.output);
    expect(after.output).not.toContain('FORGED');
    expect(after.outputBytes).toBe(before.outputBytes);
  });

  it('keeps a scan readable at the largest cap the policy allows, with multi-byte output', async () => {
    const { net, runner } = await newRunner();
    const owner = await mintToken('scan', `largest-owner-${net}`);
    await setCaps(16 * 1024 * 1024, 4 * 1024 * 1024);
    const jobId = await dispatchedScan(runner, net, owner);
    // Frames of 64 KiB: ASCII with one "😀" each (the string needs two bytes per character in transit).
    const data = `${'n'.repeat(64 * 1024 - 8)}😀\n`.slice(0, 64 * 1024 - 8);
    const frame = `${data.slice(0, -3)}😀\n`;
    const frames = Math.ceil((16 * 1024 * 1024) / utf8ByteLength(frame)) + 4;
    for (let seq = 1; seq <= frames; seq++)
      runner.send({ type: 'job.output', jobId, seq, stream: 'stdout', data: frame });
    runner.send({
      type: 'job.finished',
      jobId,
      lastSeq: frames,
      exitCode: 0,
      signal: null,
      timedOut: false,
      cancelled: false,
      durationMs: 10,
      truncated: { stdout: false, stderr: false },
      report: null,
      error: null,
    });
    const scan = await waitForStatus(jobId, owner, ['succeeded']);
    expect(scan.outputBytes).toBe(16 * 1024 * 1024);
    expect(utf8ByteLength(scan.output)).toBe(16 * 1024 * 1024);
    expect(scan.truncated.stdout).toBe(true);
    // The admin's listing and another token's scans still read.
    expect((await api('/v1/scans?limit=5', { token: ADMIN })).status).toBe(200);
    await setCaps(1024 * 1024, 256 * 1024);
  }, 120_000);
});

describe('scan event streams page through long histories', () => {
  it('sends every stored event once, in order, then live events, and closes when the scan ends', async () => {
    const { net, runner } = await newRunner();
    const owner = await mintToken('scan', `stream-owner-${net}`);
    const jobId = await dispatchedScan(runner, net, owner);
    // More events than one page: 700 output frames.
    for (let seq = 1; seq <= 700; seq++)
      runner.send({ type: 'job.output', jobId, seq, stream: 'stdout', data: `line ${seq}\n` });
    await runner.next((m) => m.type === 'ack' && m.jobId === jobId && m.seq === 700, 15_000);
    const res = await api(`/v1/scans/${jobId}/events`, { token: owner });
    expect(res.status).toBe(200);
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    let finishing = false;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
      // Once the history is through, a live frame and the end follow.
      if (!finishing && text.includes('line 700\\n')) {
        finishing = true;
        runner.send({ type: 'job.output', jobId, seq: 701, stream: 'stdout', data: 'line 701\n' });
        runner.send({
          type: 'job.finished',
          jobId,
          lastSeq: 701,
          exitCode: 0,
          signal: null,
          timedOut: false,
          cancelled: false,
          durationMs: 10,
          truncated: { stdout: false, stderr: false },
          report: null,
          error: null,
        });
      }
    }
    const lines = [...text.matchAll(/line (\d+)\\n/g)].map((m) => Number(m[1]));
    expect(lines).toEqual(Array.from({ length: 701 }, (_, i) => i + 1));
    const ids = [...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(text).toContain('event: finished');
  }, 60_000);
});

describe('job retention', () => {
  it('prunes ended scans and their output past JOB_RETENTION_DAYS, and keeps newer ones', async () => {
    const { net, runner } = await newRunner();
    const owner = await mintToken('scan', `retention-owner-${net}`);
    const old = await dispatchedScan(runner, net, owner);
    runner.finish(old, ['old output\n']);
    await waitForStatus(old, owner, ['succeeded']);
    const fresh = await dispatchedScan(runner, net, owner);
    runner.finish(fresh, ['fresh output\n']);
    await waitForStatus(fresh, owner, ['succeeded']);
    // Age the first scan past the 90-day default, then let the alarm run.
    await runInDurableObject(getCoordinator(env), (_coordinator: Coordinator, state) => {
      state.storage.sql.exec(
        'UPDATE jobs SET finished_at = ?, created_at = ? WHERE id = ?',
        Date.now() - 91 * 86_400_000,
        Date.now() - 91 * 86_400_000,
        old,
      );
    });
    await runDurableObjectAlarm(getCoordinator(env));
    expect((await api(`/v1/scans/${old}`, { token: owner })).status).toBe(404);
    await runInDurableObject(getCoordinator(env), (_coordinator: Coordinator, state) => {
      expect(state.storage.sql.exec('SELECT COUNT(*) AS n FROM job_events WHERE job_id = ?', old).one().n).toBe(0);
    });
    expect((await scanWhenDone(fresh, owner)).output).toBe('fresh output\n');
    expect(await (await api('/metrics', { token: ADMIN })).text()).toMatch(
      /scangate_scans_pruned_total\{pool="default"\} [1-9]/,
    );
  });
});
