/**
 * Diff speed (issue 17): two /24 scans with 1,000 open ports each (bench/diff-fixture.ts), diffed and serialised.
 * Goal: ≤ 20 ms per diff in the Worker. Workers' clocks do not advance while code runs, so the Worker time is
 * measured from outside: requests to real workerd (`wrangler dev` on a bundle of bench/diff-worker.ts) that diff N times, minus requests that diff none,
 * divided by N. Node's own time for the same work is printed beside it for scale.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { freePort, Proc, ROOT } from '../scripts/stack.ts';
import { diffScans } from '../worker/domain/diff/index.ts';
import { BASE, HEAD } from './diff-fixture.ts';
import { fmt, isMain, median, printRows, type BenchRow } from './lib.ts';

const PER_REQUEST = 20;
const ROUNDS = 15;

async function timeRequest(url: string, n: number): Promise<number> {
  const start = performance.now();
  const res = await fetch(`${url}/?n=${n}`);
  await res.json();
  return performance.now() - start;
}

/** `wrangler dev` on one bundled script, from a scratch directory (so the project's wrangler.toml is not read). */
async function startWorkerd(script: string): Promise<{ url: string; proc: Proc; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'scangate-diff-bench-'));
  writeFileSync(join(dir, 'worker.js'), script);
  const port = await freePort();
  const args = [
    join(ROOT, 'node_modules', 'wrangler', 'bin', 'wrangler.js'),
    'dev',
    'worker.js',
    '--name',
    'diff-bench',
  ];
  args.push('--compatibility-date', '2026-11-01', '--ip', '127.0.0.1', '--port', String(port));
  args.push(
    '--inspector-port',
    String(await freePort()),
    '--show-interactive-dev-session=false',
    '--log-level',
    'warn',
  );
  const proc = new Proc(process.execPath, args, {
    cwd: dir,
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false' },
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 300; i++) {
    if ((await fetch(`${url}/?n=0`).catch(() => null))?.ok) return { url, proc, dir };
    await new Promise((r) => setTimeout(r, 200));
  }
  await proc.stop('SIGKILL');
  throw new Error(`wrangler dev did not start:\n${proc.log.slice(-2000)}`);
}

export async function run(): Promise<BenchRow[]> {
  const bundle = await build({
    entryPoints: [new URL('./diff-worker.ts', import.meta.url).pathname],
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    write: false,
    mainFields: ['module', 'main'],
  });
  const { url, proc, dir } = await startWorkerd(bundle.outputFiles[0]!.text);
  try {
    await timeRequest(url, PER_REQUEST); // warm-up: JIT and first allocation
    const empty: number[] = [];
    const full: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      empty.push(await timeRequest(url, 0));
      full.push(await timeRequest(url, PER_REQUEST));
    }
    const workerMs = (median(full) - median(empty)) / PER_REQUEST;
    const node: number[] = [];
    for (let r = 0; r < ROUNDS * 4; r++) {
      const start = performance.now();
      JSON.stringify(diffScans(BASE, HEAD));
      node.push(performance.now() - start);
    }
    const summary = diffScans(BASE, HEAD);
    const changes = `${summary.ports.opened.length} opened, ${summary.ports.closed.length} closed, ${summary.services.length} versions`;
    return [
      {
        bench: 'diff',
        metric: `/24, 1,000 open ports each (${changes}): per diff in workerd`,
        value: `${fmt(workerMs, 2)} ms`,
        goal: '≤ 20 ms',
        met: workerMs <= 20,
      },
      { bench: 'diff', metric: 'same, in Node (median)', value: `${fmt(median(node), 2)} ms` },
    ];
  } finally {
    await proc.stop('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

if (isMain(import.meta.url)) printRows(await run());
