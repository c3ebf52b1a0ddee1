/**
 * Shared by the benchmark scripts: statistics, the one table they all report into, process memory.
 * Benchmarks measure; they never assert.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface BenchRow {
  bench: string;
  metric: string;
  value: string;
  goal?: string;
  /** Whether the goal is met; absent when the row has no goal. */
  met?: boolean;
}

export function median(xs: number[]): number {
  return percentile(xs, 50);
}

export function percentile(xs: number[], p: number): number {
  if (!xs.length) return Number.NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function printRows(rows: BenchRow[]): void {
  const cells = [
    ['bench', 'metric', 'measured', 'goal', 'met'],
    ...rows.map((r) => [r.bench, r.metric, r.value, r.goal ?? '', r.met === undefined ? '' : r.met ? 'yes' : 'NO']),
  ];
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((c) => c[i]!.length)));
  for (const [i, row] of cells.entries()) {
    console.log(
      row
        .map((c, j) => c.padEnd(widths[j]!))
        .join('  ')
        .trimEnd(),
    );
    if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  }
}

/** True when the module is the script node was asked to run (so each bench also runs on its own). */
export function isMain(url: string): boolean {
  return process.argv[1] === fileURLToPath(url);
}

/** Resident memory of a process in MiB (VmRSS), or NaN when it is gone. */
export function rssMiB(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]);
    return kb / 1024;
  } catch {
    return Number.NaN;
  }
}

export const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');
