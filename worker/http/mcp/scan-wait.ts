import { z } from 'zod';
import { isTerminal, SCAN_STATUSES, type Scan } from '../../../shared/scan/index.ts';
import type { Result } from '../../domain/result.ts';
import type { Coordinator } from '../../objects/coordinator.do.ts';
import type { Principal } from '../auth.ts';
import { structuredScan, summarize, type ToolResult } from './results.ts';

/**
 * Waiting on a scan inside one MCP call, shared by a blocking nmap_scan and wait_for_scan. Hosted agent hosts
 * abort a tool call after about 60 s and many clients have no MCP tasks, so no call waits longer than
 * MAX_WAIT_SEC: a scan that outlasts the wait is answered as it stands, with the exact call that continues it.
 */
export const DEFAULT_WAIT_SEC = 45;
/** Under the ~60 s hosts allow a call, with room for the request around the wait. */
export const MAX_WAIT_SEC = 55;
/**
 * The longest single long-poll on the Coordinator. While a client gave a progressToken, a poll that ends with
 * nothing new sends a notification anyway: it resets the idle timeout of clients that honour progress.
 */
const HEARTBEAT_MS = 10_000;

/** The wait a tool takes (nmap_scan's waitSec, wait_for_scan's maxWaitSec): whole seconds, 1 to 55. */
export const waitSecInput = (description: string) =>
  z.number().int().min(1).max(MAX_WAIT_SEC).optional().describe(description);

/** What the wait needs of the SDK's request context (RequestHandlerExtra). */
export interface WaitContext {
  signal: AbortSignal;
  _meta?: { progressToken?: string | number };
  sendNotification(notification: {
    method: 'notifications/progress';
    params: { progressToken: string | number; progress: number; message: string };
  }): Promise<void>;
}

/** Where a scan stands before nmap reports progress. */
const BEFORE_PROGRESS: Partial<Record<Scan['status'], string>> = {
  queued: 'waiting for a runner',
  dispatched: 'starting on its runner',
  running: 'started, no progress yet',
};

/** A scan's progress in a few words: "Connect Scan 42%, ~120 s left", or where it stands before nmap reports any. */
export function progressLine(scan: Scan): string {
  const p = scan.progress;
  if (!p) return BEFORE_PROGRESS[scan.status] ?? scan.status;
  return `${p.phase ?? 'scan'} ${p.percent.toFixed(0)}%${p.etaSec !== undefined ? `, ~${p.etaSec} s left` : ''}`;
}

/**
 * Sends notifications/progress for a call that gave a progressToken: when the scan's progress changes, and after
 * a quiet poll (a heartbeat, whatever the scan's state).
 */
function progressRelay(context: WaitContext): (scan: Scan, quiet: boolean) => Promise<void> {
  const progressToken = context._meta?.progressToken;
  let sent = 0;
  let lastMessage = '';
  return async (scan, quiet) => {
    if (progressToken === undefined) return;
    const message = progressLine(scan);
    if (!quiet && (!scan.progress || message === lastMessage)) return;
    lastMessage = message;
    // `progress` only counts up, as the spec requires of it, even when the percentage has not moved.
    await context
      .sendNotification({ method: 'notifications/progress', params: { progressToken, progress: ++sent, message } })
      .catch(() => {});
  };
}

/**
 * Waits until the scan ends, `waitMs` passes or the client goes away, relaying progress, and answers the scan as
 * it then stands (its status says which). Not found (unknown, or another token's scan) is the same error get_scan
 * answers: the Coordinator's watch applies the same visibility rule.
 */
export async function waitForScan(
  coordinator: DurableObjectStub<Coordinator>,
  principal: Principal,
  scanId: string,
  waitMs: number,
  context: WaitContext,
): Promise<Result<Scan>> {
  const deadline = Date.now() + waitMs;
  const relay = progressRelay(context);
  let lastEid = 0;
  for (;;) {
    const pollMs = Math.max(0, Math.min(deadline - Date.now(), HEARTBEAT_MS));
    const watched = await coordinator.watchScan(principal, scanId, lastEid, pollMs);
    if (!watched.ok) return watched;
    const quiet = watched.value.lastEid === lastEid;
    lastEid = watched.value.lastEid;
    const { scan } = watched.value;
    if (isTerminal(scan.status) || Date.now() >= deadline || context.signal.aborted) return { ok: true, value: scan };
    await relay(scan, quiet && pollMs > 0);
  }
}

/** The call an agent makes next to follow a scan that is still running. */
export const nextCall = (scanId: string) => `wait_for_scan {"scanId": "${scanId}"}`;

/** The text of a scan that has not ended: where it stands and the exact call that continues it. */
export function stillRunningText(scan: Scan, waitedSec: number): string {
  return [
    `Scan ${scan.id} ${scan.status}: ${progressLine(scan)} (targets: ${scan.targets.join(', ')}).`,
    `Not done after ${waitedSec} s; it keeps running. Next call: ${nextCall(scan.id)}`,
  ].join('\n');
}

/** nmap_scan's answer when the scan outlasts waitSec: the scan as it stands (its usual shape), with the next call. */
export function stillRunningResult(scan: Scan, waitedSec: number): ToolResult {
  return {
    content: [{ type: 'text', text: stillRunningText(scan, waitedSec) }],
    structuredContent: structuredScan(scan),
  };
}

/** wait_for_scan's output: enough for a program to loop on (status), small in tools/list; get_scan has the rest. */
export const WaitOutputShape = {
  scanId: z.string(),
  status: z.enum(SCAN_STATUSES),
  percent: z.number().optional(),
};

/** wait_for_scan's answer: still running (the next call), or ended (its summary, and get_scan to read it all). */
export function waitResult(scan: Scan, waitedSec: number): ToolResult {
  const ended = isTerminal(scan.status);
  // nmap's last progress report is rarely 100%: an ended scan's percent would mislead, its status says it all.
  const structured = {
    scanId: scan.id,
    status: scan.status,
    ...(scan.progress && !ended && { percent: scan.progress.percent }),
  };
  if (!ended)
    return { content: [{ type: 'text', text: stillRunningText(scan, waitedSec) }], structuredContent: structured };
  const failed = scan.status !== 'succeeded';
  return {
    content: [{ type: 'text', text: `${summarize(scan)}\nFull result: get_scan {"scanId": "${scan.id}"}` }],
    structuredContent: structured,
    ...(failed && { isError: true }),
  };
}

/** list_scans' text: one line a scan, newest first, with progress while it runs, and how to follow one. */
export function listScansText(scans: Scan[]): string {
  const lines = scans.map(
    (s) =>
      `${s.id} ${s.status}${isTerminal(s.status) ? '' : ` (${progressLine(s)})`} ${s.targets.join(', ')}, created ${s.createdAt}`,
  );
  const running = scans.find((s) => !isTerminal(s.status));
  if (running) lines.push(`Follow a running scan: ${nextCall(running.id)}. Read one: get_scan.`);
  return lines.join('\n');
}
