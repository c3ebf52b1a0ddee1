import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, type TestContext } from 'vitest';
import { validateScanRequest } from '../shared/policy/index.ts';
import type { JobFinished, JobOutput, RunnerMessage } from '../shared/protocol/index.ts';
import { fenceLeftovers } from '../runner/fence.ts';
import { useBannerServer } from './helpers/banner-server.ts';
import { EdgeDouble } from './helpers/edge-double.ts';

/**
 * The kernel fence (runner/fence.ts) with the real runner process, real nmap and real nftables, on loopback only.
 * The runner may scan 127.0.0.1/32 alone; its link goes to an edge double on 127.0.0.3, outside that network, so a
 * fence that caught the runner's own traffic would cut the link. A FAKE nmap (test/fakes/nmap-escapes-fence.sh)
 * plays the escape: it tries 127.0.0.2 and ::1 over TCP and UDP, and listeners there count what arrives.
 */
const ROOT = new URL('..', import.meta.url).pathname;
const ESCAPING_NMAP = join(ROOT, 'test/fakes/nmap-escapes-fence.sh');
const TOKEN = 'sgr_0fence_test_token_0123456789abcdefghijklmnopq';
const isRoot = process.getuid?.() === 0;
if (!isRoot)
  console.warn(
    `runner-fence: skipped: the kernel fence needs root (nftables, cgroups); running as uid ${process.getuid?.()}`,
  );

const dir = mkdtempSync(join(tmpdir(), 'scangate-fence-test-'));
const tokenFile = join(dir, 'token');
writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
chmodSync(ESCAPING_NMAP, 0o755);

type Cleanup = TestContext['onTestFinished'];

interface Runner {
  child: ChildProcess;
  exit: Promise<number | null>;
  output: () => string;
}

/** `wrap` runs the runner under another command (setpriv, to take CAP_NET_ADMIN away). */
function startRunner(cleanup: Cleanup, edge: EdgeDouble, nmap?: string, wrap: string[] = []): Runner {
  const args = [join(ROOT, 'runner/main.ts'), 'run', '--server', edge.url, '--token-file', tokenFile];
  const command = [...wrap, process.execPath, ...args, '--network', '127.0.0.1/32', ...(nmap ? ['--nmap', nmap] : [])];
  const child = spawn(command[0]!, command.slice(1), {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  cleanup(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exit;
    }
  });
  return { child, exit, output: () => out };
}

async function edgeDouble(cleanup: Cleanup): Promise<EdgeDouble> {
  const edge = await EdgeDouble.start({ tokens: [TOKEN], host: '127.0.0.3' });
  cleanup(() => edge.close());
  return edge;
}

function argvFor(args: string): string[] {
  const r = validateScanRequest({ target: '127.0.0.1', args });
  if (!r.ok) throw new Error(r.error.message);
  return r.argv;
}

const finished =
  (jobId: string) =>
  (m: RunnerMessage): m is JobFinished =>
    m.type === 'job.finished' && m.jobId === jobId;
const printed = (jobId: string, text: string) => (m: RunnerMessage) =>
  m.type === 'job.output' && m.jobId === jobId && m.data.includes(text);
const outputOf = (edge: EdgeDouble, jobId: string) =>
  edge.received
    .filter((m): m is JobOutput => m.type === 'job.output' && m.jobId === jobId)
    .map((m) => m.data)
    .join('');

/** TCP and UDP listeners on 127.0.0.2 and ::1, all on one port; `arrived` lists what reached them. */
async function listeners(cleanup: Cleanup): Promise<{ port: number; arrived: string[] }> {
  for (;;) {
    const arrived: string[] = [];
    const opened: Array<Server | UdpSocket> = [];
    const close = () => {
      for (const s of opened) s.close();
    };
    try {
      let port = 0;
      for (const host of ['127.0.0.2', '::1']) {
        const tcp = createServer((socket) => {
          arrived.push(`tcp ${host}`);
          socket.destroy();
        });
        await new Promise<void>((resolve, reject) => {
          tcp.once('error', reject);
          tcp.listen(port, host, () => resolve());
        });
        opened.push(tcp);
        port = (tcp.address() as { port: number }).port;
        const udp = createSocket(host === '::1' ? 'udp6' : 'udp4');
        udp.on('message', () => arrived.push(`udp ${host}`));
        await new Promise<void>((resolve, reject) => {
          udp.once('error', reject);
          udp.bind(port, host, () => resolve());
        });
        opened.push(udp);
      }
      cleanup(close);
      return { port, arrived };
    } catch {
      close(); // the port was taken on one of the addresses: another one
    }
  }
}

const banner = useBannerServer();

describe.skipIf(!isRoot).concurrent('the kernel fence (root: real nft, real nmap, loopback)', () => {
  it('drops TCP and UDP to 127.0.0.2 and ::1 from a FAKE nmap that ignores its scan; unfenced, the same gets through', async ({
    onTestFinished,
  }) => {
    const target = await listeners(onTestFinished);
    // The control: the same FAKE nmap, run here without a fence, reaches every listener. Without the fence, the
    // fenced run below would too.
    const control = spawnSync(ESCAPING_NMAP, ['-p', String(target.port)], { encoding: 'utf8' });
    expect(control.stdout).toMatch(/tcp 127\.0\.0\.2 reached/);
    await expect
      .poll(() => [...new Set(target.arrived)].sort())
      .toEqual(['tcp 127.0.0.2', 'tcp ::1', 'udp 127.0.0.2', 'udp ::1']);
    target.arrived.length = 0;

    const edge = await edgeDouble(onTestFinished);
    const runner = startRunner(onTestFinished, edge, ESCAPING_NMAP);
    const hello = await edge.waitFor((m) => m.type === 'hello');
    expect(hello).toMatchObject({ fence: { enforced: true, detail: 'nftables, 1 network' } });
    edge.dispatch('job_fence_escape', argvFor(`-sT -p ${target.port}`));
    await edge.waitFor(finished('job_fence_escape'), 60_000);

    const said = outputOf(edge, 'job_fence_escape');
    for (const attempt of ['tcp 127.0.0.2', 'udp 127.0.0.2', 'tcp ::1', 'udp ::1'])
      expect(said).toContain(`${attempt} blocked`);
    expect(target.arrived).toEqual([]);
    // The link to 127.0.0.3, outside the runner's networks, kept working through the job (its frames arrived).
    expect(await fenceLeftovers(runner.child.pid!)).toEqual([]);
  });

  it('lets a real nmap SYN scan (raw packets) and a connect scan of 127.0.0.1 find the open port', async ({
    onTestFinished,
  }) => {
    const edge = await edgeDouble(onTestFinished);
    const runner = startRunner(onTestFinished, edge);
    await edge.waitFor((m) => m.type === 'hello');
    for (const [jobId, args] of [
      ['job_fence_syn', `-sS -p ${banner.port()}`],
      ['job_fence_connect', `-sT -p ${banner.port()}`],
    ] as const) {
      edge.dispatch(jobId, argvFor(args));
      const result = await edge.waitFor(finished(jobId), 60_000);
      expect(result.exitCode).toBe(0);
      expect(result.report?.hosts[0]?.ports.find((p) => p.port === banner.port())?.state).toBe('open');
      expect(result.report?.scanner.args).toContain('--send-ip');
    }
    expect(await fenceLeftovers(runner.child.pid!)).toEqual([]);
  });

  it('leaves the host traffic alone while a job is fenced, and no rule or cgroup after a cancel', async ({
    onTestFinished,
  }) => {
    const target = await listeners(onTestFinished);
    const edge = await edgeDouble(onTestFinished);
    const runner = startRunner(onTestFinished, edge, ESCAPING_NMAP);
    await edge.waitFor((m) => m.type === 'hello');
    edge.dispatch('job_fence_cancel', argvFor('-sT -p 1'));
    await edge.waitFor(printed('job_fence_cancel', 'holding'));
    expect((await fenceLeftovers(runner.child.pid!)).length).toBe(2); // the job's table and cgroup, while it runs
    // This process is outside the job's cgroup: it still reaches 127.0.0.2 and ::1, outside the runner's networks.
    for (const host of ['127.0.0.2', '::1']) {
      await new Promise<void>((resolve, reject) => {
        const socket = connect(target.port, host, () => {
          socket.destroy();
          resolve();
        });
        socket.once('error', reject);
      });
    }
    await expect.poll(() => [...target.arrived].sort()).toEqual(['tcp 127.0.0.2', 'tcp ::1']);
    edge.send({ type: 'job.cancel', jobId: 'job_fence_cancel' });
    const result = await edge.waitFor(finished('job_fence_cancel'), 60_000);
    expect(result.cancelled).toBe(true);
    expect(await fenceLeftovers(runner.child.pid!)).toEqual([]);
  });

  it('without CAP_NET_ADMIN the runner says it is unfenced, in its log and its hello, and still scans', async ({
    onTestFinished,
  }) => {
    const edge = await edgeDouble(onTestFinished);
    const runner = startRunner(onTestFinished, edge, undefined, ['setpriv', '--bounding-set=-net_admin', '--']);
    const hello = await edge.waitFor((m) => m.type === 'hello');
    expect(hello).toMatchObject({ fence: { enforced: false, detail: 'root, but without CAP_NET_ADMIN' } });
    expect(runner.output()).toMatch(/"event":"runner.unfenced"/);
    edge.dispatch('job_unfenced', argvFor(`-sT -p ${banner.port()}`));
    const result = await edge.waitFor(finished('job_unfenced'), 60_000);
    expect(result.report?.hosts[0]?.ports.find((p) => p.port === banner.port())?.state).toBe('open');
    expect(result.report?.scanner.args).not.toContain('--send-ip');
  });

  it('after kill -9 of the runner, the next start removes the rule and cgroup it left', async ({ onTestFinished }) => {
    const edge = await edgeDouble(onTestFinished);
    const killed = startRunner(onTestFinished, edge, ESCAPING_NMAP);
    await edge.waitFor((m) => m.type === 'hello');
    edge.dispatch('job_fence_kill9', argvFor('-sT -p 1'));
    await edge.waitFor(printed('job_fence_kill9', 'holding'));
    const pid = killed.child.pid!;
    // The job's table and cgroup, while it runs. After SIGKILL nothing of this runner can remove them; any runner
    // starting on the host may (another test's, too), so the test does not count on seeing them left over.
    expect((await fenceLeftovers(pid)).length).toBe(2);
    killed.child.kill('SIGKILL');
    await killed.exit;

    const next = startRunner(onTestFinished, edge, ESCAPING_NMAP);
    const hellos = edge.hellos.length;
    await edge.waitFor(() => edge.hellos.length > hellos);
    expect(next.output()).not.toMatch(/runner\.unfenced/);
    expect(await fenceLeftovers(pid)).toEqual([]);
  });
});

describe.skipIf(!isRoot)('doctor reports the fence', () => {
  it('fence ok with the number of networks, as root', async () => {
    const r = spawnSync(
      process.execPath,
      [join(ROOT, 'runner/main.ts'), 'doctor', '--network', '127.0.0.1/32', '--network', '::1/128'],
      { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } },
    );
    expect(r.stdout).toMatch(/^fence\s+ok\s+nftables, 2 networks$/m);
    expect(await fenceLeftovers(r.pid!)).toEqual([]);
  });

  it('fence unavailable, with the reason and a fix, without CAP_NET_ADMIN', () => {
    const r = spawnSync(
      'setpriv',
      [
        '--bounding-set=-net_admin',
        '--',
        process.execPath,
        join(ROOT, 'runner/main.ts'),
        'doctor',
        '--network',
        '127.0.0.1/32',
      ],
      { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } },
    );
    expect(r.stdout).toMatch(/^fence\s+warn\s+unavailable: root, but without CAP_NET_ADMIN; scans run unfenced/m);
    expect(r.stdout).toMatch(/fix: Run the runner as root, or grant it CAP_NET_ADMIN/);
  });
});
