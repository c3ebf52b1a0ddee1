/**
 * Footprint: the runner daemon's resident memory idle and while it runs 2 real nmap scans of 127.0.0.1 (nmap's
 * own memory is not counted: it is a separate process under its own limits), and the Worker bundle as
 * `wrangler deploy` would upload it, gzipped. Goal: runner < 80 MB.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ROOT } from '../scripts/stack.ts';
import { Stack } from '../test/helpers/stack.ts';
import { fmt, isMain, printRows, rssMiB, type BenchRow } from './lib.ts';

const MB = 1024 * 1024;

function workerBundle(): { raw: number; gzipped: number } {
  const out = mkdtempSync(join(tmpdir(), 'scangate-bundle-'));
  try {
    execFileSync(
      process.execPath,
      [join(ROOT, 'node_modules', 'wrangler', 'bin', 'wrangler.js'), 'deploy', '--dry-run', '--outdir', out],
      {
        cwd: ROOT,
        stdio: 'ignore',
        env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
      },
    );
    const bytes = readFileSync(join(out, 'index.js'));
    return { raw: bytes.length, gzipped: gzipSync(bytes).length };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

/** RSS of one runner idle, and its peak while two scans run. */
async function measureRunner(
  stack: Stack,
  name: string,
  script: string | undefined,
  nodeArgs: string[],
): Promise<{ idle: number; busy: number; sawTwo: boolean }> {
  const { proc } = await stack.readyRunner(name, { ...(script && { script }), nodeArgs });
  await new Promise((r) => setTimeout(r, 2000)); // let start-up garbage settle
  const idle = rssMiB(proc.pid);
  const token = await stack.mintToken('scan', `bench-${name}`);
  // Two scans of ~5 s each, with output and progress flowing.
  const ids: string[] = [];
  for (let i = 0; i < 2; i++) {
    const res = await stack.api(token, 'POST', '/v1/scans', {
      target: '127.0.0.1',
      args: '-sT -v -p 1-50 --scan-delay 100ms --max-retries 0',
    });
    ids.push(res.body.scan.id);
  }
  let busy = 0;
  let sawTwo = false;
  for (;;) {
    busy = Math.max(busy, rssMiB(proc.pid));
    const scans = await Promise.all(ids.map((id) => stack.api(token, 'GET', `/v1/scans/${id}`)));
    const states = scans.map((s) => s.body.scan.status as string);
    if (states.every((s) => s === 'running')) sawTwo = true;
    if (states.every((s) => ['succeeded', 'failed', 'cancelled'].includes(s))) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  await proc.stop('SIGTERM');
  return { idle, busy, sawTwo };
}

export async function run(): Promise<BenchRow[]> {
  const stack = new Stack({});
  const dir = mkdtempSync(join(tmpdir(), 'scangate-runner-bundle-'));
  try {
    await stack.start();
    const bundle = join(dir, 'scangate-runner.mjs');
    execFileSync(process.execPath, [join(ROOT, 'scripts', 'build-runner.ts'), bundle], { cwd: ROOT, stdio: 'ignore' });
    const rows: BenchRow[] = [];
    // The node options the systemd unit runs the bundle with, read from the unit so the two cannot drift.
    const unit = readFileSync(join(ROOT, 'runner', 'scangate-runner.service'), 'utf8');
    const unitArgs = /^ExecStart=\S*node((?: --\S+)*) /m.exec(unit)?.[1]?.trim().split(/\s+/).filter(Boolean) ?? [];
    const variants = [
      [`bundle as the unit runs it (node ${unitArgs.join(' ')})`, 'fp-unit', bundle, unitArgs],
      ['bundle, node defaults', 'fp-bundle', bundle, []],
      ['from source (dev only: node strips types with a ~35 MiB compiler)', 'fp-source', undefined, []],
    ] as const;
    for (const [label, name, script, nodeArgs] of variants) {
      const m = await measureRunner(stack, name, script, [...nodeArgs]);
      const goal = script ? { goal: '< 80' } : {};
      rows.push(
        {
          bench: 'footprint',
          metric: `runner ${label}: RSS idle (MiB)`,
          value: fmt(m.idle),
          ...goal,
          ...(script && { met: m.idle < 80 }),
        },
        {
          bench: 'footprint',
          metric: `runner ${label}: RSS, 2 scans running${m.sawTwo ? '' : ' (never both at once!)'} (MiB)`,
          value: fmt(m.busy),
          ...goal,
          ...(script && { met: m.busy < 80 && m.sawTwo }),
        },
      );
    }
    const worker = workerBundle();
    rows.push({
      bench: 'footprint',
      metric: 'Worker bundle, raw / gzipped (MiB)',
      value: `${fmt(worker.raw / MB, 2)} / ${fmt(worker.gzipped / MB, 2)}`,
      goal: 'gzipped ≤ 3 (Workers limit)',
      met: worker.gzipped <= 3 * MB,
    });
    return rows;
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await stack.stop();
  }
}

if (isMain(import.meta.url)) printRows(await run());
