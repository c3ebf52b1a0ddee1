import { hostname } from 'node:os';
import { describe, expect, it, type TestContext } from 'vitest';
import { useBannerServer } from '../test/helpers/banner-server.ts';
import { validateScanRequest } from '../shared/policy/index.ts';
import { finishedAckSeq, type JobFinished, type JobRejected, type RunnerMessage } from '../shared/protocol/index.ts';
import { EdgeDouble } from '../test/helpers/edge-double.ts';
import type { RunnerConfig } from './config.ts';
import { RunnerLink } from './link.ts';
import { createLogger } from './log.ts';
import { readLocalScripts } from './nmap-scripts.ts';
import { nmapVersion } from './system.ts';

/** The runner link in-process against a local test double of the edge; real nmap on 127.0.0.1 only. */
const TOKEN = 'srt_link_test_token_0123456789';

function argvFor(args: string, target: string | string[] = '127.0.0.1'): string[] {
  const r = validateScanRequest({ target, args });
  if (!r.ok) throw new Error(r.error.message);
  return r.argv;
}

const isFinished =
  (jobId: string) =>
  (m: RunnerMessage): m is JobFinished =>
    m.type === 'job.finished' && m.jobId === jobId;
const isRejected =
  (jobId: string) =>
  (m: RunnerMessage): m is JobRejected =>
    m.type === 'job.rejected' && m.jobId === jobId;

const banner = useBannerServer();
const NMAP_VERSION = (await nmapVersion('nmap')) ?? null;
const LOCAL_SCRIPTS = await readLocalScripts('nmap', NMAP_VERSION);

async function setup(
  cleanup: TestContext['onTestFinished'],
  config: Partial<RunnerConfig> = {},
  edgeOptions: Parameters<typeof EdgeDouble.start>[0] = {},
) {
  const edge = await EdgeDouble.start({ tokens: [TOKEN], ...edgeOptions });
  const logs: string[] = [];
  const link = new RunnerLink({
    config: {
      connectUrl: `${edge.url}/v1/runners/connect`,
      token: TOKEN,
      networks: ['127.0.0.0/8'],
      maxConcurrency: 2,
      nmap: 'nmap',
      graceSec: 1,
      allowIntrusive: false,
      allowEvasion: false,
      ...config,
    },
    log: (() => {
      const l = createLogger((line) => logs.push(line));
      l.secret(TOKEN);
      return l;
    })(),
    privilege: { privileged: false, root: false, viaCapabilities: false, detail: 'test: unprivileged' },
    nmapPath: 'nmap',
    nmapVersion: NMAP_VERSION,
    resolve: async (name) => (name === 'web.lab.internal' ? ['127.0.0.1'] : []),
    scripts: LOCAL_SCRIPTS,
    backoff: { baseMs: 100, capMs: 400, random: () => 1 },
    statsEvery: '1s',
  });
  const exited = link.run();
  cleanup(async () => {
    await link.shutdown();
    await exited;
    await edge.close();
  });
  await edge.waitFor((m) => m.type === 'hello');
  return { edge, link, logs, exited };
}

describe.concurrent('runner link', () => {
  it('says hello with its capabilities and the bearer token', async ({ onTestFinished }) => {
    const { edge } = await setup(onTestFinished);
    expect(edge.authorizations[0]).toBe(`Bearer ${TOKEN}`);
    expect(edge.hellos[0]).toEqual({
      type: 'hello',
      protocol: 1,
      runnerVersion: '0.1.0',
      nmapVersion: '7.93',
      privileged: false,
      maxConcurrency: 2,
      networks: ['127.0.0.0/8'],
      resume: [],
      instanceId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      host: hostname(),
    });
  });

  it('logs the newer runner the edge serves, with the update command, and keeps working', async ({
    onTestFinished,
  }) => {
    const { edge, logs } = await setup(onTestFinished);
    edge.send({ type: 'runner.update_available', runnerVersion: '0.1.0', latestRunnerVersion: '0.2.0' });
    edge.dispatch('job_after_notice', argvFor(`-sT -p ${banner.port()}`));
    expect((await edge.waitFor(isFinished('job_after_notice'))).exitCode).toBe(0);
    const notice = logs.map((l) => JSON.parse(l)).find((l) => l.event === 'runner.update_available');
    expect(notice).toMatchObject({ level: 'warn', version: '0.1.0', latest: '0.2.0' });
    expect(notice.hint).toContain('scangate-runner update');
  });

  it('runs a dispatched scan and streams sequenced output, progress and the report', async ({ onTestFinished }) => {
    const { edge, logs } = await setup(onTestFinished);
    edge.dispatch('job_ok', argvFor(`-sT -sV -p ${banner.port()}`, 'web.lab.internal'));
    const finished = await edge.waitFor(isFinished('job_ok'));
    expect(edge.received.find((m) => m.type === 'job.accepted')).toEqual({ type: 'job.accepted', jobId: 'job_ok' });
    expect(finished.exitCode).toBe(0);
    const output = edge.outputOf('job_ok');
    expect(output.seqs).toEqual(Array.from({ length: finished.lastSeq }, (_, i) => i + 1));
    expect(output.text).toMatch(new RegExp(`${banner.port()}/tcp\\s+open\\s+ssh`));
    const open = finished.report?.hosts[0]?.ports.find((p) => p.port === banner.port());
    expect(open?.service?.product).toBe('OpenSSH');
    expect(finished.report?.hosts[0]?.hostnames[0]?.name).toBe('web.lab.internal');
    expect(logs.join('')).not.toContain(TOKEN);
    expect(logs.some((l) => l.includes('"event":"job.finished"') && l.includes('job_ok'))).toBe(true);
  });

  it('runs -sC: the long explicit --script list a category expands to crosses the link and runs', async ({
    onTestFinished,
  }) => {
    const { edge } = await setup(onTestFinished);
    const argv = argvFor(`-sT -sC -p ${banner.port()}`);
    expect(argv[argv.indexOf('--script') + 1]!.length).toBeGreaterThan(255);
    edge.dispatch('job_default_scripts', argv);
    const finished = await edge.waitFor(isFinished('job_default_scripts'));
    expect(finished.exitCode).toBe(0);
    expect(edge.outputOf('job_default_scripts').text).toMatch(new RegExp(`${banner.port()}/tcp\\s+open`));
  });

  it.for<[string, string[]]>([
    ['a public target', ['-T4', '--max-parallelism', '10', '-Pn', '--top-ports', '1000', '--', '8.8.8.8']],
    ['a forbidden option', ['-iL', '/etc/passwd', '--', '127.0.0.1']],
    ['a target outside --network', argvFor('-sT -p 22', '10.0.0.5')],
    ['a raw scan on an unprivileged runner', argvFor('-sS -p 22')],
  ])('refuses a forged dispatch (%s) and runs nothing', async ([, argv], { onTestFinished }) => {
    const { edge } = await setup(onTestFinished);
    edge.dispatch('job_forged', argv);
    const rejected = await edge.waitFor(isRejected('job_forged'));
    expect(rejected.error.type).toBe('validation_error');
    await new Promise((r) => setTimeout(r, 300));
    expect(edge.received.filter((m) => 'jobId' in m && m.jobId === 'job_forged').map((m) => m.type)).toEqual([
      'job.rejected',
    ]);
  });

  it('gets the full output after the link drops mid-scan, resent with nothing lost or doubled', async ({
    onTestFinished,
  }) => {
    const { edge } = await setup(onTestFinished);
    edge.autoAck = false;
    edge.dispatch('job_drop', argvFor('-sT -p 1-12000 --max-rate 4000 -v'));
    await edge.waitFor((m) => m.type === 'job.output' && m.jobId === 'job_drop');
    edge.dropAll();
    const finished = await edge.waitFor(isFinished('job_drop'));
    expect(edge.connections).toBe(2);
    expect(edge.hellos[1]?.resume).toEqual([expect.objectContaining({ jobId: 'job_drop' })]);
    const output = edge.outputOf('job_drop');
    expect(output.duplicates).toBeGreaterThan(0); // the runner resent what was never acked
    expect(output.seqs).toEqual(Array.from({ length: finished.lastSeq }, (_, i) => i + 1));
    expect(output.text).toContain('Nmap done');
    expect(output.text.match(/Nmap done/g)).toHaveLength(1);
    // nmap's XML came after the output, once, whole: resent frames were dropped by seq like the rest.
    expect(output.xml.match(/<nmaprun /g)).toHaveLength(1);
    expect(output.xml).toMatch(/<\/nmaprun>\n$/);
    expect(finished.xml).toEqual({ bytes: Buffer.byteLength(output.xml), truncated: false });
    expect(edge.received.some((m) => m.type === 'job.progress' && m.jobId === 'job_drop')).toBe(true);
    edge.send({ type: 'ack', jobId: 'job_drop', seq: finishedAckSeq(finished.lastSeq) });
  });

  it("sends nmap's XML only to an edge that announced it takes it (an older edge would refuse the frames)", async ({
    onTestFinished,
  }) => {
    const { edge } = await setup(onTestFinished, {}, { features: null });
    edge.dispatch('job_old_edge', argvFor(`-sT -p ${banner.port()}`));
    const finished = await edge.waitFor(isFinished('job_old_edge'));
    expect(finished.exitCode).toBe(0);
    expect('xml' in finished).toBe(false);
    expect(edge.outputOf('job_old_edge')).toMatchObject({ xml: '', text: expect.stringMatching(/open/) });
  });

  it('keeps a scan running while the link is down and delivers its result after reconnect', async ({
    onTestFinished,
  }) => {
    const { edge } = await setup(onTestFinished);
    edge.dispatch('job_down', argvFor(`-sT -p ${banner.port()}`));
    await edge.waitFor((m) => m.type === 'job.accepted');
    edge.refuseWithStatus = 503;
    edge.dropAll();
    await new Promise((r) => setTimeout(r, 1500)); // the scan ends during this
    expect(edge.received.some((m) => m.type === 'job.finished')).toBe(false);
    edge.refuseWithStatus = undefined;
    const finished = await edge.waitFor(isFinished('job_down'));
    expect(finished.exitCode).toBe(0);
    expect(edge.hellos.at(-1)?.resume).toEqual([{ jobId: 'job_down', lastSeq: finished.lastSeq, finished: true }]);
    expect(edge.outputOf('job_down').text).toMatch(/open/);
  });

  it('drops what the edge acked and resends only the rest', async ({ onTestFinished }) => {
    const { edge } = await setup(onTestFinished);
    edge.dispatch('job_acked', argvFor(`-sT -p ${banner.port()}`));
    await edge.waitFor(isFinished('job_acked'));
    await new Promise((r) => setTimeout(r, 200));
    const before = edge.received.length;
    edge.dropAll();
    await edge.waitFor((m) => m.type === 'hello', 5000, before);
    await new Promise((r) => setTimeout(r, 300));
    expect(edge.hellos.at(-1)?.resume).toEqual([]);
    expect(edge.received.slice(before).filter((m) => m.type !== 'hello')).toEqual([]);
  });

  it('cancels a scan on job.cancel', async ({ onTestFinished }) => {
    const { edge } = await setup(onTestFinished);
    edge.dispatch('job_cancel', argvFor('-sT -p- --max-rate 100'));
    await edge.waitFor((m) => m.type === 'job.accepted');
    edge.send({ type: 'job.cancel', jobId: 'job_cancel' });
    const finished = await edge.waitFor(isFinished('job_cancel'));
    expect(finished.cancelled).toBe(true);
  });

  it('never runs a repeated dispatch twice', async ({ onTestFinished }) => {
    const { edge } = await setup(onTestFinished);
    const argv = argvFor(`-sT -p ${banner.port()}`);
    edge.dispatch('job_twice', argv);
    edge.dispatch('job_twice', argv);
    await edge.waitFor(isFinished('job_twice'));
    await new Promise((r) => setTimeout(r, 300));
    expect(edge.received.filter((m) => m.type === 'job.finished')).toHaveLength(1);
    expect(edge.outputOf('job_twice').text.match(/Starting Nmap/g)).toHaveLength(1);
  });

  it('refuses work beyond its concurrency', async ({ onTestFinished }) => {
    const { edge } = await setup(onTestFinished, { maxConcurrency: 1 });
    edge.dispatch('job_a', argvFor('-sT -p- --max-rate 100'));
    await edge.waitFor((m) => m.type === 'job.accepted');
    edge.dispatch('job_b', argvFor(`-sT -p ${banner.port()}`));
    const rejected = await edge.waitFor(isRejected('job_b'));
    expect(rejected.error).toMatchObject({ type: 'rate_limited', retryAfterSec: 5 });
  });
});
