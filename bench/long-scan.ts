/**
 * Long scan, full size: an MCP client whose per-request timeout is 60 s (what hosted agent hosts allow a tool call)
 * follows a real nmap scan of several minutes on loopback to its result with nmap_scan (waitSec 45) and
 * wait_for_scan (maxWaitSec 45), finding it again with list_scans after "forgetting" its id, and prints the
 * timeline. The e2e test (test/e2e/mcp-long-scan.e2e.test.ts) is the same follow scaled down. Bounded: the scan
 * has a 600 s timeout, the follow at most 60 calls. Goal: every call returns within the client's timeout.
 */
import { createServer } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { followLongScan, timeline } from '../test/helpers/long-scan.ts';
import { Stack } from '../test/helpers/stack.ts';
import { fmt, isMain, printRows, type BenchRow } from './lib.ts';

const CLIENT_TIMEOUT_MS = 60_000;
const WAIT_SEC = 45;
/** One probe at a time, 100 ms apart: at least 180 s (BENCH_LONG_SCAN_PORTS ports × 100 ms). */
const PORTS = Number(process.env.BENCH_LONG_SCAN_PORTS ?? 1800);
const HOST = '127.0.0.7';

export async function run(): Promise<BenchRow[]> {
  const stack = new Stack({});
  const listener = createServer((socket) => socket.on('error', () => {}).end());
  let client: Client | undefined;
  try {
    await stack.start();
    await stack.readyRunner('bench-long-scan');
    const token = await stack.mintToken('scan', 'bench-long-scan');
    await new Promise<void>((resolve, reject) => listener.once('error', reject).listen(0, HOST, resolve));
    const port = (listener.address() as { port: number }).port;
    client = new Client({ name: 'bench-long-scan', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${stack.url}/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${token}` } },
      }),
    );
    await client.listTools();
    const t0 = performance.now();
    const followed = await followLongScan(
      client,
      { target: HOST, args: `-sT -p 1-${PORTS - 1},${port} --scan-delay 100ms --max-retries 0`, timeoutSec: 600 },
      { waitSec: WAIT_SEC, requestTimeoutMs: CLIENT_TIMEOUT_MS, maxSteps: 60 },
    );
    const totalSec = (performance.now() - t0) / 1000;
    console.log(
      `\nlong scan of ${PORTS} ports of ${HOST}, client timeout ${CLIENT_TIMEOUT_MS / 1000} s, waits ${WAIT_SEC} s:\n${timeline(followed.steps)}\n`,
    );
    const longest = Math.max(...followed.steps.map((s) => s.tookMs)) / 1000;
    const found = (followed.result.structuredContent as { openPorts?: Array<{ port: number }> }).openPorts ?? [];
    const progress = followed.steps.reduce((n, s) => n + s.progress, 0);
    const waits = followed.steps.filter((s) => s.tool === 'wait_for_scan').length;
    return [
      { bench: 'long-scan', metric: 'scan followed to its result (s)', value: fmt(totalSec) },
      {
        bench: 'long-scan',
        metric: 'longest call (s)',
        value: fmt(longest),
        goal: `< ${CLIENT_TIMEOUT_MS / 1000} (client timeout)`,
        met: longest < CLIENT_TIMEOUT_MS / 1000,
      },
      { bench: 'long-scan', metric: 'calls: all / wait_for_scan', value: `${followed.steps.length} / ${waits}` },
      { bench: 'long-scan', metric: 'progress notifications received', value: String(progress) },
      {
        bench: 'long-scan',
        metric: 'result names the open port',
        value: found.some((p) => p.port === port) ? 'yes' : 'no',
        goal: 'yes',
        met: found.some((p) => p.port === port),
      },
    ];
  } finally {
    await client?.close();
    await new Promise((resolve) => listener.close(resolve));
    await stack.stop();
  }
}

if (isMain(import.meta.url)) printRows(await run());
