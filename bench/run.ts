/**
 * `npm run bench`: every benchmark in this folder, one after the other (they share the machine, so never at
 * once), then one table. Each also runs on its own: `node bench/<name>.ts`. Loopback only.
 */
import { arch, cpus, totalmem } from 'node:os';
import { run as diff } from './diff.ts';
import { run as dispatch } from './dispatch.ts';
import { run as fanin } from './fanin.ts';
import { run as footprint } from './footprint.ts';
import { printRows, type BenchRow } from './lib.ts';
import { run as longScan } from './long-scan.ts';
import { run as relay } from './relay.ts';
import { run as sseLoad } from './sse-load.ts';
import { run as validate } from './validate.ts';

const benches: Array<[string, () => Promise<BenchRow[]>]> = [
  ['validate', validate],
  ['diff', diff],
  ['dispatch', dispatch],
  ['relay', relay],
  ['fan-in', fanin],
  ['sse-load', sseLoad],
  ['footprint', footprint],
  ['long-scan', longScan],
];

const rows: BenchRow[] = [];
for (const [name, run] of benches) {
  process.stderr.write(`bench: ${name} …\n`);
  try {
    rows.push(...(await run()));
  } catch (e) {
    rows.push({ bench: name, metric: 'FAILED', value: String((e as Error).message).slice(0, 120) });
  }
}
const cpu = cpus();
console.log(
  `\nscangate benchmarks: ${cpu.length} × ${cpu[0]?.model.trim() ?? 'cpu'} (${arch()}), ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}, nmap ${process.env.NMAP_VERSION ?? ''}`.trimEnd(),
);
printRows(rows);
