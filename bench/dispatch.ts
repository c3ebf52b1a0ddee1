/**
 * What scangate adds on top of nmap, on the real stack (wrangler dev, a real runner, real nmap, 127.0.0.1 only):
 *
 * - dispatch overhead: one `-sT -p 1-1000 -T4` scan of 127.0.0.1 with a port open, run directly with nmap (the
 *   same canonical argv scangate runs) and through scangate via REST (`wait`) and via MCP (SDK client),
 *   interleaved, RUNS times each; medians, the difference and the ratio. Goal: ≤ 50 ms added at the median.
 * - first output: from the runner reading nmap's first stdout bytes (its `job.first_output` log line) to an SSE
 *   client receiving the first output event. Goal: ≤ 100 ms median.
 */
import { spawn } from 'node:child_process';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { sseEvents, textChunks } from '../scripts/cli/sse.ts';
import { startBannerServer } from '../test/helpers/banner.ts';
import { Stack } from '../test/helpers/stack.ts';
import { fmt, isMain, median, printRows, type BenchRow } from './lib.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 20);

function timeNmap(argv: string[]): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn('nmap', argv, { stdio: ['ignore', 'ignore', 'ignore'] });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve(performance.now() - started) : reject(new Error(`nmap exited ${code}`)),
    );
  });
}

export async function run(): Promise<BenchRow[]> {
  const stack = new Stack({});
  const banner = await startBannerServer();
  try {
    await stack.start();
    const { proc } = await stack.readyRunner('bench-dispatch');
    await stack.api(stack.admin, 'PUT', '/v1/policy', { rateLimitPerMinute: 10_000 });
    const token = await stack.mintToken('scan', 'bench');
    const args = `-sT -p 1-1000 -T4`;
    const target = '127.0.0.1';
    const checked = await stack.api(token, 'POST', '/v1/validate', { target, args });
    const argv = checked.body.argv as string[];

    const transport = new StreamableHTTPClientTransport(new URL(`${stack.url}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    });
    const client = new Client({ name: 'bench', version: '1.0.0' });
    await client.connect(transport);

    const runners: Record<string, () => Promise<number>> = {
      direct: () => timeNmap(argv),
      rest: async () => {
        const t0 = performance.now();
        const res = await stack.api(token, 'POST', '/v1/scans', { target, args, wait: 60 });
        if (res.body.scan?.status !== 'succeeded')
          throw new Error(`REST scan: ${JSON.stringify(res.body).slice(0, 300)}`);
        return performance.now() - t0;
      },
      mcp: async () => {
        const t0 = performance.now();
        const result = await client.callTool({ name: 'nmap_scan', arguments: { target, args } });
        if (result.isError) throw new Error(`MCP scan: ${JSON.stringify(result.content).slice(0, 300)}`);
        return performance.now() - t0;
      },
    };
    const times: Record<string, number[]> = { direct: [], rest: [], mcp: [] };
    // One warm-up each, then interleaved rounds in a rotating order so drift hits every path alike.
    for (const name of Object.keys(runners)) await runners[name]!();
    const order = Object.keys(runners);
    for (let i = 0; i < RUNS; i++) {
      for (let j = 0; j < order.length; j++) {
        const name = order[(i + j) % order.length]!;
        times[name]!.push(await runners[name]!());
      }
    }
    await client.close();

    // First output: SSE client vs the runner's reading of nmap's first bytes.
    const firstOutput: number[] = [];
    for (let i = 0; i < Math.min(RUNS, 10); i++) {
      const created = await stack.api(token, 'POST', '/v1/scans', { target, args: `-sT -p ${banner.port}` });
      const id = created.body.scan.id as string;
      const res = await fetch(`${stack.url}/v1/scans/${id}/events`, { headers: { authorization: `Bearer ${token}` } });
      let receivedAt = Number.NaN;
      for await (const event of sseEvents(textChunks(res.body!))) {
        if (event.event === 'output' && Number.isNaN(receivedAt)) receivedAt = Date.now();
        if (event.event === 'finished') break;
      }
      const line = proc.log.split('\n').find((l) => l.includes('"job.first_output"') && l.includes(id));
      const readAt = line ? (JSON.parse(line) as { atMs: number }).atMs : Number.NaN;
      firstOutput.push(receivedAt - readAt);
    }

    const d = median(times.direct!);
    const rows: BenchRow[] = [{ bench: 'dispatch', metric: `nmap direct, median of ${RUNS} (ms)`, value: fmt(d) }];
    for (const name of ['rest', 'mcp'] as const) {
      const m = median(times[name]!);
      rows.push(
        { bench: 'dispatch', metric: `via ${name.toUpperCase()}, median (ms)`, value: fmt(m) },
        {
          bench: 'dispatch',
          metric: `${name.toUpperCase()} added at the median (ms)`,
          value: fmt(m - d),
          goal: '≤ 50',
          met: m - d <= 50,
        },
        { bench: 'dispatch', metric: `${name.toUpperCase()} / direct`, value: `${fmt(m / d, 2)}×` },
      );
    }
    const fo = median(firstOutput);
    rows.push({
      bench: 'first output',
      metric: `runner reads it → SSE client has it, median of ${firstOutput.length} (ms)`,
      value: fmt(fo),
      goal: '≤ 100',
      met: fo <= 100,
    });
    rows.push({ bench: 'first output', metric: 'max (ms)', value: fmt(Math.max(...firstOutput)) });
    return rows;
  } finally {
    banner.server.close();
    await stack.stop();
  }
}

if (isMain(import.meta.url)) printRows(await run());
