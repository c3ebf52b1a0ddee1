/**
 * Fan-in: RUNNERS runners on one Coordinator and SCANS scans in flight at once. The runners are the real runner
 * code (RunnerLink: its own WebSocket each, re-validation, prlimit, setpriv), hosted in this one process to spare
 * 50 Node heaps; the scanner is a FAKE nmap (bench/fakes/nmap-paced.sh) that prints canned lines for ~3 s and
 * scans nothing. Measures dispatch latency (POST /v1/scans answered with the scan already dispatched), errors,
 * and the memory of the workerd processes behind wrangler dev. Goal: 0 errors.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { RunnerLink } from '../runner/link.ts';
import { createLogger } from '../runner/log.ts';
import { detectPrivilege, which } from '../runner/system.ts';
import { freePort, ROOT } from '../scripts/stack.ts';
import { Stack } from '../test/helpers/stack.ts';
import { CpuProfiler } from './cdp-profile.ts';
import { fmt, isMain, percentile, printRows, rssMiB, type BenchRow } from './lib.ts';

const RUNNERS = Number(process.env.BENCH_RUNNERS ?? 50);
const SCANS = Number(process.env.BENCH_SCANS ?? 200);
const FAKE_NMAP = join(ROOT, 'bench', 'fakes', 'nmap-paced.sh');

/** Every workerd process under wrangler dev's process tree, and their summed RSS. */
function workerdMiB(rootPid: number): number {
  const pids: number[] = [];
  const walk = (pid: number) => {
    let children: number[] = [];
    try {
      children = execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
        .trim()
        .split('\n')
        .filter(Boolean)
        .map(Number);
    } catch {
      // no children
    }
    for (const child of children) {
      if (/workerd/.test(execFileSync('ps', ['-o', 'comm=', '-p', String(child)], { encoding: 'utf8' })))
        pids.push(child);
      walk(child);
    }
  };
  walk(rootPid);
  return pids.reduce((sum, pid) => sum + (rssMiB(pid) || 0), 0);
}

export async function run(): Promise<BenchRow[]> {
  const stack = new Stack({ QUEUE_MAX: '32' });
  const links: RunnerLink[] = [];
  const exits: Array<Promise<number>> = [];
  if (process.env.BENCH_PROFILE) stack.inspectorPort = await freePort();
  try {
    await stack.start();
    await stack.api(stack.admin, 'PUT', '/v1/policy', { rateLimitPerMinute: 10_000 });
    const memIdle = workerdMiB(stack.edge.proc.pid);
    const privilege = await detectPrivilege();
    const setprivPath = await which('setpriv');
    const perRunner = Math.ceil(SCANS / RUNNERS);
    const quiet = createLogger((line) => {
      if (/"level":"(error|warn)"/.test(line) && !/link\.closed|runner\.draining/.test(line))
        process.stderr.write(line);
    });
    for (let i = 0; i < RUNNERS; i++) {
      const minted = await stack.mintRunner(`fan-${i}`);
      const link = new RunnerLink({
        config: {
          connectUrl: `${stack.wsUrl}/v1/runners/connect`,
          token: minted.token,
          networks: ['127.0.0.0/8'],
          maxConcurrency: perRunner,
          nmap: FAKE_NMAP,
          graceSec: 5,
          allowIntrusive: false,
          allowEvasion: false,
        },
        log: quiet,
        privilege,
        nmapPath: FAKE_NMAP,
        nmapVersion: null,
        resolve: async () => [],
        scripts: undefined,
        ...(setprivPath && { setprivPath }),
      });
      links.push(link);
      exits.push(link.run());
    }
    // All connected?
    for (let tries = 0; ; tries++) {
      const online = (await stack.api(stack.admin, 'GET', '/v1/runners')).body.runners.filter(
        (r: { online: boolean }) => r.online,
      ).length;
      if (online === RUNNERS) break;
      if (tries > 100) throw new Error(`only ${online} of ${RUNNERS} runners connected`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const memConnected = workerdMiB(stack.edge.proc.pid);

    const tokens = await Promise.all(Array.from({ length: 4 }, (_, i) => stack.mintToken('scan', `fan-user-${i}`)));
    const errors: string[] = [];
    let peak = memConnected;
    const sampler = setInterval(() => (peak = Math.max(peak, workerdMiB(stack.edge.proc.pid))), 250);

    /** Posts SCANS scans, `gapMs` apart (0: all at once), and waits for every one to end with its output. */
    async function phase(
      gapMs: number,
    ): Promise<{ latencies: number[]; posted: number; done: number; maxInFlight: number }> {
      const latencies: number[] = [];
      const started = performance.now();
      const posts: Array<Promise<string | undefined>> = [];
      for (let i = 0; i < SCANS; i++) {
        if (gapMs > 0 && i > 0) await new Promise((r) => setTimeout(r, gapMs));
        posts.push(
          (async () => {
            const t0 = performance.now();
            const res = await stack.api(tokens[i % tokens.length]!, 'POST', '/v1/scans', {
              target: '127.0.0.1',
              args: '-sT -p 22',
            });
            const status = res.body.scan?.status;
            if (res.status !== 202 || (status !== 'dispatched' && status !== 'running'))
              errors.push(`${res.status} ${status ?? JSON.stringify(res.body).slice(0, 200)}`);
            else latencies.push(performance.now() - t0);
            return res.body.scan?.id as string | undefined;
          })(),
        );
      }
      const ids = await Promise.all(posts);
      const posted = performance.now() - started;
      const running = (await stack.api(stack.admin, 'GET', '/v1/runners')).body.runners.reduce(
        (n: number, r: { running: number }) => n + r.running,
        0,
      ) as number;
      for (const id of ids) {
        if (!id) continue;
        const scan = await stack.waitForScan(
          stack.admin,
          id,
          (s) => ['succeeded', 'failed', 'cancelled'].includes(s.status),
          60_000,
        );
        if (scan.status !== 'succeeded' || scan.outputBytes === 0)
          errors.push(`${id} ${scan.status} ${scan.error?.message ?? ''}`);
      }
      return { latencies, posted, done: performance.now() - started, maxInFlight: running };
    }

    const profiler = process.env.BENCH_PROFILE ? new CpuProfiler() : undefined;
    if (profiler) await profiler.start(stack.inspectorPort!);
    const burst = await phase(0);
    if (profiler) {
      mkdirSync(join(ROOT, 'test-artifacts'), { recursive: true });
      const path = join(ROOT, 'test-artifacts', 'fanin-burst.cpuprofile');
      console.log(`workerd CPU profile of the burst (${path}), self time:\n${(await profiler.stop(path)).join('\n')}`);
    }
    const paced = await phase(10);
    clearInterval(sampler);
    if (errors.length) console.error(`fan-in errors (first 5): ${errors.slice(0, 5).join(' | ')}`);
    const bench = 'fan-in';
    const rows: BenchRow[] = [];
    for (const [name, r] of [
      ['all at once', burst],
      ['posted 10 ms apart', paced],
    ] as const) {
      rows.push(
        {
          bench,
          metric: `${RUNNERS} runners, ${SCANS} scans ${name}: dispatch p50 / p99 (ms)`,
          value: `${fmt(percentile(r.latencies, 50))} / ${fmt(percentile(r.latencies, 99))}`,
        },
        {
          bench,
          metric: `  in flight when all posted; posted / all ended (s)`,
          value: `${r.maxInFlight}; ${fmt(r.posted / 1000, 2)} / ${fmt(r.done / 1000, 2)}`,
        },
      );
    }
    rows.push(
      { bench, metric: 'errors (both phases)', value: String(errors.length), goal: '0', met: errors.length === 0 },
      {
        bench,
        metric: 'workerd RSS: idle → runners connected → peak (MiB)',
        value: `${fmt(memIdle, 0)} → ${fmt(memConnected, 0)} → ${fmt(peak, 0)}`,
      },
    );
    return rows;
  } finally {
    await Promise.all(links.map((l) => l.shutdown()));
    await Promise.race([Promise.all(exits), new Promise((r) => setTimeout(r, 10_000))]);
    await stack.stop();
  }
}

if (isMain(import.meta.url)) printRows(await run());
