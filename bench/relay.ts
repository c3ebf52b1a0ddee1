/**
 * Relay throughput: 1,000,000 bytes of runner output to an SSE client, through the real runner, Worker and
 * Coordinator (each chunk stored in SQLite, acked, and pushed to the stream). The output comes from a FAKE nmap
 * (bench/fakes/nmap-flood.sh) so the runner is never the bottleneck; it scans nothing. Goal: ≥ 5 MB/s.
 */
import { join } from 'node:path';
import { sseEvents, textChunks } from '../scripts/cli/sse.ts';
import { ROOT } from '../scripts/stack.ts';
import { Stack } from '../test/helpers/stack.ts';
import { fmt, isMain, median, printRows, type BenchRow } from './lib.ts';

const RUNS = Number(process.env.BENCH_RELAY_RUNS ?? 5);

export async function run(): Promise<BenchRow[]> {
  const stack = new Stack({});
  try {
    await stack.start();
    await stack.readyRunner('bench-relay', { nmap: join(ROOT, 'bench', 'fakes', 'nmap-flood.sh') });
    const token = await stack.mintToken('scan', 'bench');
    const relayed: number[] = [];
    const endToEnd: number[] = [];
    let bytes = 0;
    for (let i = 0; i < RUNS; i++) {
      const t0 = performance.now();
      const created = await stack.api(token, 'POST', '/v1/scans', { target: '127.0.0.1', args: '-sT -p 22' });
      const res = await fetch(`${stack.url}/v1/scans/${created.body.scan.id}/events`, {
        headers: { authorization: `Bearer ${token}` },
      });
      let first = Number.NaN;
      let last = Number.NaN;
      bytes = 0;
      for await (const event of sseEvents(textChunks(res.body!))) {
        if (event.event === 'output') {
          const now = performance.now();
          if (Number.isNaN(first)) first = now;
          last = now;
          bytes += Buffer.byteLength((JSON.parse(event.data) as { data: string }).data);
        }
        if (event.event === 'finished') break;
      }
      const done = performance.now();
      if (bytes !== 1_000_000) throw new Error(`relayed ${bytes} bytes, expected 1,000,000`);
      relayed.push(bytes / 1e6 / ((last - first) / 1000));
      endToEnd.push(bytes / 1e6 / ((done - t0) / 1000));
    }
    const m = median(relayed);
    return [
      {
        bench: 'relay',
        metric: `1 MB runner → SSE, first to last byte, median of ${RUNS} (MB/s)`,
        value: fmt(m),
        goal: '≥ 5',
        met: m >= 5,
      },
      { bench: 'relay', metric: 'POST to finished, whole scan (MB/s)', value: fmt(median(endToEnd)) },
    ];
  } finally {
    await stack.stop();
  }
}

if (isMain(import.meta.url)) printRows(await run());
