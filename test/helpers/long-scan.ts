import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { CallToolResultSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';

/**
 * An agent following a long scan over MCP the way a host that aborts long tool calls must: nmap_scan with waitSec,
 * one wait_for_scan, then it "forgets" the scanId and finds it again with list_scans, waits on it until it ends
 * and reads it with get_scan. Every call carries the client's per-request timeout, so a call that blocked past it
 * throws (RequestTimeout) and the follow fails. Shared by the e2e test (scaled down) and bench/long-scan.ts.
 */
export interface FollowStep {
  tool: string;
  /** When the call started and how long it took, in ms from the start of the follow. */
  atMs: number;
  tookMs: number;
  status: string;
  percent?: number;
  /** notifications/progress the call received. */
  progress: number;
  text: string;
}

export interface Followed {
  scanId: string;
  steps: FollowStep[];
  /** get_scan's answer once the scan ended. */
  result: CallToolResult;
}

const TERMINAL = new Set(['succeeded', 'failed', 'cancelled', 'rejected']);

export async function followLongScan(
  client: Client,
  scan: { target: string | string[]; args: string; timeoutSec?: number },
  options: { waitSec: number; requestTimeoutMs: number; maxSteps?: number },
): Promise<Followed> {
  const started = Date.now();
  const steps: FollowStep[] = [];
  const call = async (tool: string, args: Record<string, unknown>): Promise<CallToolResult> => {
    const at = Date.now();
    let progress = 0;
    const result = (await client.callTool({ name: tool, arguments: args }, CallToolResultSchema, {
      timeout: options.requestTimeoutMs,
      onprogress: () => {
        progress++;
      },
    })) as CallToolResult;
    const structured = (result.structuredContent ?? {}) as { status?: string; percent?: number };
    const text = (result.content as Array<{ text: string }>).map((c) => c.text).join('\n');
    steps.push({
      tool,
      atMs: at - started,
      tookMs: Date.now() - at,
      status: structured.status ?? (result.isError ? 'error' : '-'),
      ...(structured.percent !== undefined && { percent: structured.percent }),
      progress,
      text,
    });
    if (steps.length > (options.maxSteps ?? 200)) throw new Error(`gave up after ${steps.length} calls`);
    if (result.isError && !structured.status) throw new Error(`${tool} failed: ${text}`);
    return result;
  };
  const statusOf = (r: CallToolResult) => (r.structuredContent as { status: string }).status;
  const waitFor = (scanId: string) => call('wait_for_scan', { scanId, maxWaitSec: options.waitSec });

  const first = await call('nmap_scan', { ...scan, waitSec: options.waitSec });
  const firstId = (first.structuredContent as { scanId: string }).scanId;
  if (!TERMINAL.has(statusOf(first))) await waitFor(firstId);

  // The agent loses the handle (a new conversation, a compacted context) and finds its scan again.
  const listed = await call('list_scans', { limit: 5 });
  const targets = [scan.target].flat().join(', ');
  const found = (listed.structuredContent as { scans: Array<{ scanId: string; targets: string[] }> }).scans.find(
    (s) => s.targets.join(', ') === targets,
  );
  if (!found) throw new Error(`list_scans did not list the scan of ${targets}`);
  const scanId = found.scanId;
  let last = await waitFor(scanId);
  while (!TERMINAL.has(statusOf(last))) last = await waitFor(scanId);
  return { scanId, steps, result: await call('get_scan', { scanId }) };
}

/** The follow as a table, one call a line. */
export function timeline(steps: FollowStep[]): string {
  return steps
    .map(
      (s) =>
        `${(s.atMs / 1000).toFixed(1).padStart(7)} s  ${s.tool.padEnd(13)} ${(s.tookMs / 1000).toFixed(1).padStart(5)} s  ${s.status.padEnd(9)} ${s.percent !== undefined ? `${s.percent.toFixed(0)}%`.padStart(4) : '    '}  ${s.progress} progress`,
    )
    .join('\n');
}
