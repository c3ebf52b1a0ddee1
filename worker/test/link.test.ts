import { env, runDurableObjectAlarm } from 'cloudflare:test';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { Ack, EdgeMessage, JobDispatch } from '../../shared/protocol/index.ts';
import { getCoordinator } from '../objects/coordinator.do.ts';
import { ADMIN, api, json, mintRunner, mintToken, runnersOnOwnNets, TestRunner } from './helpers/runner-client.ts';

/** The runner link in real workerd: the real Worker and Coordinator, a test-side client speaking the protocol. */
const newRunner = runnersOnOwnNets('link-runner', 10);
async function setup(hello: Parameters<typeof TestRunner.ready>[1] = {}) {
  const { net, minted, runner } = await newRunner(hello);
  const scanToken = await mintToken('scan');
  const scan = async (body: Record<string, unknown> = {}) => {
    const res = await api('/v1/scans', {
      method: 'POST',
      token: scanToken,
      json: { target: `127.${net}.0.1`, args: '-sT -p 22', ...body },
    });
    return { status: res.status, body: await json(res) };
  };
  return { net, minted, runner, scanToken, scan };
}

const isDispatch = (m: EdgeMessage): m is JobDispatch => m.type === 'job.dispatch';
const ackOf =
  (jobId: string, seq: number) =>
  (m: EdgeMessage): m is Ack =>
    m.type === 'ack' && m.jobId === jobId && m.seq === seq;

describe('runner link', () => {
  it('welcomes a runner and records what it declared', async () => {
    const { minted, net } = await setup({ privileged: true, maxConcurrency: 3 });
    expect(
      (await json(await api('/v1/runners', { token: ADMIN }))).runners.find((r: { id: string }) => r.id === minted.id),
    ).toMatchObject({
      online: true,
      privileged: true,
      maxConcurrency: 3,
      networks: [`127.${net}.0.0/16`],
      nmapVersion: '7.93',
      breaker: 'CLOSED',
    });
  });

  it('refuses an unsupported protocol with a clear error and closes', async () => {
    const minted = await mintRunner('old-protocol');
    const runner = (await TestRunner.connect(minted.token)) as TestRunner;
    runner.send({
      type: 'hello',
      protocol: 99,
      runnerVersion: '9.9.9',
      nmapVersion: null,
      privileged: false,
      maxConcurrency: 1,
      networks: ['127.0.0.0/8'],
      resume: [],
    });
    expect(await runner.next((m) => m.type === 'error')).toMatchObject({
      code: 'unsupported_protocol',
      supportedProtocols: [1],
    });
    expect((await runner.closedWith()).code).toBe(4002);
  });

  it('answers a malformed frame with an error, and insists on hello first', async () => {
    const minted = await mintRunner('rude-runner');
    const runner = (await TestRunner.connect(minted.token)) as TestRunner;
    runner.sendRaw('{"type":"hello"');
    expect(await runner.next((m) => m.type === 'error')).toMatchObject({ code: 'malformed_frame' });
    runner.send({ type: 'job.accepted', jobId: 'x' });
    expect((await runner.closedWith()).code).toBe(4400);
  });

  it('refuses error details nested 2,500 deep from a hostile runner; the scan list stays readable for everyone', async () => {
    const { runner, scan, scanToken } = await setup();
    const created = await scan();
    const dispatch = await runner.next(isDispatch);
    let details: unknown = 'bottom';
    for (let i = 0; i < 2500; i++) details = { a: details };
    runner.sendRaw(
      JSON.stringify({
        type: 'job.rejected',
        jobId: dispatch.jobId,
        error: { type: 'validation_error', message: 'x', recoverySuggestion: 'y', details },
      }),
    );
    expect(await runner.next((m) => m.type === 'error')).toMatchObject({ code: 'malformed_frame' });
    for (const token of [scanToken, ADMIN]) {
      const list = await api('/v1/scans', { token });
      expect(list.status).toBe(200);
      const got = await api(`/v1/scans/${created.body.scan.id}`, { token });
      expect(got.status).toBe(200);
    }
  });

  describe('a runner token cannot claim networks it was not granted', () => {
    const hello = (networks: string[]) => ({
      type: 'hello' as const,
      protocol: 1,
      runnerVersion: '0.1.0',
      nmapVersion: '7.93',
      privileged: false,
      maxConcurrency: 2,
      networks,
      resume: [],
    });

    it.each([
      ["another runner's address", (net: number) => [`127.${net + 1}.0.1/32`]],
      ['everything', () => ['0.0.0.0/0']],
      ['its grant plus more', (net: number) => [`127.${net}.0.0/16`, '127.0.0.0/8']],
    ])('refuses a hello declaring %s, and the legitimate runner keeps its scans', async (_name, declared) => {
      const { net: legitNet, scan, runner: legit } = await setup();
      const rogueNet = legitNet - 1;
      const rogue = await mintRunner(`rogue-${legitNet}-${_name.length}`, [`127.${rogueNet}.0.0/16`]);
      const socket = (await TestRunner.connect(rogue.token)) as TestRunner;
      socket.send(hello(declared(rogueNet)));
      expect(await socket.next((m) => m.type === 'error')).toMatchObject({ code: 'networks_not_granted' });
      expect((await socket.closedWith()).code).toBe(4403);
      // Scans of the legitimate runner's network still go to it, not to the rogue.
      const created = await scan();
      expect(created.status).toBe(202);
      await legit.next((m) => m.type === 'job.dispatch' && m.jobId === created.body.scan.id);
    });

    it('takes a hello declaring part of its grant, and refuses a second hello on the same connection', async () => {
      const { net } = await setup();
      const minted = await mintRunner(`narrow-${net}`, [`127.${net}.0.0/16`]);
      const runner = await TestRunner.ready(minted.token, { networks: [`127.${net}.5.0/24`] });
      runner.send(hello([`127.${net}.0.0/16`]));
      expect(await runner.next((m) => m.type === 'error')).toMatchObject({ code: 'duplicate_hello' });
      expect((await runner.closedWith()).code).toBe(4400);
    });

    it('refuses to grant what the pool does not allow, or a network not in canonical form', async () => {
      for (const networks of [['8.8.8.0/24'], ['127.0.0.1/8'], []]) {
        const res = await api('/v1/runners', {
          method: 'POST',
          token: ADMIN,
          json: { name: `bad-grant-${networks.join()}`.replace(/[^a-z0-9-]/g, '-'), networks },
        });
        expect(res.status, networks.join()).toBe(400);
      }
      const listed = await json(await api('/v1/runners', { token: ADMIN }));
      expect(
        listed.runners.every(
          (r: { grantedNetworks: string[] | null }) => r.grantedNetworks === null || r.grantedNetworks.length > 0,
        ),
      ).toBe(true);
    });
  });

  it('answers pings without waking the object (auto-response)', async () => {
    const { runner } = await setup();
    runner.ping();
    await runner.next((m) => (m as { type: string }).type === 'pong');
  });

  it('dispatches the canonical argv, stores output in order, acks it and records the result', async () => {
    const { runner, scan, scanToken } = await setup();
    const created = await scan();
    expect(created.status).toBe(202);
    const dispatch = await runner.next(isDispatch);
    expect(dispatch).toMatchObject({
      jobId: created.body.scan.id,
      argv: ['-sT', '-p', '22', '-Pn', '-n', '-T4', '--max-parallelism', '10', '--', created.body.scan.targets[0]],
      timeoutSec: 600,
      policy: { allowIntrusive: false, allowEvasion: false, maxHosts: 1024 },
      limits: { stdoutMaxBytes: 1048576, stderrMaxBytes: 262144 },
    });
    runner.send({ type: 'job.accepted', jobId: dispatch.jobId });
    runner.send({ type: 'job.progress', jobId: dispatch.jobId, percent: 40, phase: 'Connect Scan', etaSec: 3 });
    runner.finish(dispatch.jobId, ['Starting Nmap\n', '22/tcp closed ssh\n', 'Nmap done\n']);
    await runner.next(ackOf(dispatch.jobId, 4)); // the result counts as lastSeq + 1
    for (const seq of [1, 2, 3]) expect(runner.received.some(ackOf(dispatch.jobId, seq))).toBe(true);
    const got = await json(await api(`/v1/scans/${dispatch.jobId}`, { token: scanToken }));
    expect(got.scan).toMatchObject({
      status: 'succeeded',
      exitCode: 0,
      output: 'Starting Nmap\n22/tcp closed ssh\nNmap done\n',
      progress: { percent: 40, phase: 'Connect Scan', etaSec: 3 },
    });
  });

  it('drops duplicate output and acks only what is contiguous', async () => {
    const { runner, scan, scanToken } = await setup();
    const jobId = (await scan()).body.scan.id;
    await runner.next(isDispatch);
    runner.send({ type: 'job.output', jobId, seq: 1, stream: 'stdout', data: 'one\n' });
    runner.send({ type: 'job.output', jobId, seq: 3, stream: 'stdout', data: 'three\n' });
    runner.send({ type: 'job.output', jobId, seq: 1, stream: 'stdout', data: 'one\n' });
    runner.send({
      type: 'job.finished',
      jobId,
      lastSeq: 3,
      exitCode: 0,
      signal: null,
      timedOut: false,
      cancelled: false,
      durationMs: 5,
      truncated: { stdout: false, stderr: false },
      report: null,
      error: null,
    });
    await new Promise((r) => setTimeout(r, 200));
    // seq 2 is missing: the result is not taken and not acked, so the runner will resend it.
    expect(runner.received.some(ackOf(jobId, 4))).toBe(false);
    expect((await json(await api(`/v1/scans/${jobId}`, { token: scanToken }))).scan.status).toBe('dispatched');
    runner.send({ type: 'job.output', jobId, seq: 2, stream: 'stdout', data: 'two\n' });
    await runner.next(ackOf(jobId, 3));
    runner.send({
      type: 'job.finished',
      jobId,
      lastSeq: 3,
      exitCode: 0,
      signal: null,
      timedOut: false,
      cancelled: false,
      durationMs: 5,
      truncated: { stdout: false, stderr: false },
      report: null,
      error: null,
    });
    await runner.next(ackOf(jobId, 4));
    expect((await json(await api(`/v1/scans/${jobId}`, { token: scanToken }))).scan).toMatchObject({
      status: 'succeeded',
      output: 'one\ntwo\nthree\n',
    });
  });

  it('keeps a job across a reconnect and takes the resent output once', async () => {
    const { runner, scan, scanToken, minted, net } = await setup();
    const jobId = (await scan()).body.scan.id;
    await runner.next(isDispatch);
    runner.send({ type: 'job.accepted', jobId });
    runner.send({ type: 'job.output', jobId, seq: 1, stream: 'stdout', data: 'a\n' });
    await runner.next(ackOf(jobId, 1));
    runner.close();
    await new Promise((r) => setTimeout(r, 100));
    const again = await TestRunner.ready(minted.token, {
      networks: [`127.${net}.0.0/16`],
      resume: [{ jobId, lastSeq: 2, finished: true }],
    });
    onTestFinished(() => again.close());
    again.finish(jobId, ['a\n', 'b\n']);
    await again.next(ackOf(jobId, 3));
    expect((await json(await api(`/v1/scans/${jobId}`, { token: scanToken }))).scan).toMatchObject({
      status: 'succeeded',
      output: 'a\nb\n',
    });
  });

  it('marks a job runner_lost when the runner stays away past its lease (alarm), and counts it', async () => {
    const { runner, scan, scanToken, minted } = await setup();
    const jobId = (await scan()).body.scan.id;
    await runner.next(isDispatch);
    runner.send({ type: 'job.accepted', jobId });
    runner.close();
    await new Promise((r) => setTimeout(r, 2200)); // LEASE_SEC is 2 in tests
    await runDurableObjectAlarm(getCoordinator(env));
    const got = (await json(await api(`/v1/scans/${jobId}`, { token: scanToken }))).scan;
    expect(got.status).toBe('failed');
    expect(got.error).toMatchObject({ type: 'runner_lost' });
    const breakers = (await json(await api('/v1/breakers', { token: ADMIN }))).breakers;
    expect(breakers.find((b: { runnerId: string }) => b.runnerId === minted.id)).toMatchObject({
      consecutiveFailures: 1,
      errors: [expect.objectContaining({ type: 'runner_lost', jobId })],
    });
  });

  it('marks a job runner_lost at once when the runner comes back without it', async () => {
    const { runner, scan, scanToken, minted, net } = await setup();
    const jobId = (await scan()).body.scan.id;
    await runner.next(isDispatch);
    runner.close();
    await new Promise((r) => setTimeout(r, 100));
    const again = await TestRunner.ready(minted.token, { networks: [`127.${net}.0.0/16`], resume: [] });
    onTestFinished(() => again.close());
    expect((await json(await api(`/v1/scans/${jobId}`, { token: scanToken }))).scan.error).toMatchObject({
      type: 'runner_lost',
    });
  });

  it('cuts a revoked runner off at once and keeps it out', async () => {
    const { runner, minted } = await setup();
    expect((await api(`/v1/runners/${minted.id}`, { method: 'DELETE', token: ADMIN })).status).toBe(200);
    expect(await runner.next((m) => m.type === 'error')).toMatchObject({ code: 'revoked' });
    expect((await runner.closedWith()).code).toBe(4003);
    const refused = await TestRunner.connect(minted.token);
    expect(refused).toBeInstanceOf(Response);
    expect((refused as Response).status).toBe(401);
  });

  it('relays a runner rejection as the scan outcome, not a breaker failure', async () => {
    const { runner, scan, scanToken, minted } = await setup();
    const jobId = (await scan()).body.scan.id;
    await runner.next(isDispatch);
    runner.send({
      type: 'job.rejected',
      jobId,
      error: { type: 'validation_error', message: 'web.lab.internal resolves outside', recoverySuggestion: 'Fix DNS' },
    });
    await new Promise((r) => setTimeout(r, 100));
    expect((await json(await api(`/v1/scans/${jobId}`, { token: scanToken }))).scan).toMatchObject({
      status: 'rejected',
      error: { message: 'web.lab.internal resolves outside' },
    });
    const breakers = (await json(await api('/v1/breakers', { token: ADMIN }))).breakers;
    expect(breakers.find((b: { runnerId: string }) => b.runnerId === minted.id).consecutiveFailures).toBe(0);
  });

  it('cancels a running scan through the runner', async () => {
    const { runner, scan, scanToken } = await setup();
    const jobId = (await scan()).body.scan.id;
    await runner.next(isDispatch);
    runner.send({ type: 'job.accepted', jobId });
    expect((await api(`/v1/scans/${jobId}/cancel`, { method: 'POST', token: scanToken })).status).toBe(200);
    await runner.next((m) => m.type === 'job.cancel' && m.jobId === jobId);
    runner.finish(jobId, ['partial\n'], { cancelled: true, exitCode: null, signal: 'SIGTERM' });
    await runner.next(ackOf(jobId, 2));
    expect((await json(await api(`/v1/scans/${jobId}`, { token: scanToken }))).scan.status).toBe('cancelled');
    expect((await api(`/v1/scans/${jobId}/cancel`, { method: 'POST', token: scanToken })).status).toBe(409);
  });
});
