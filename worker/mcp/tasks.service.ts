import type { ScanError } from '../../shared/errors/index.ts';
import type { Principal } from '../auth.ts';
import { TERMINAL } from '../../shared/scan/index.ts';
import { toScan, type JobStore } from '../stores/jobs.store.ts';
import { MAX_TASK_TTL_MS, taskStatusOf, type McpTask, type TaskRow, type TaskStore } from '../stores/tasks.store.ts';
import { newId } from '../tokens.ts';
import { scanToolResult, type ToolResult } from './results.ts';
import { forMcp } from './wording.ts';

/** A failed scan's task status: the error and its fix, worded for MCP. */
function statusMessageOf(error: ScanError): string {
  const worded = forMcp(error);
  return `${worded.type}: ${worded.message}. What to do: ${worded.recoverySuggestion}`;
}

/**
 * MCP tasks inside the Coordinator: a task is a row bound to the token that made it, and its status and result
 * follow its scan's (so nothing has to be copied when the scan ends). The Coordinator exposes these over RPC.
 */
export class McpTaskService {
  readonly #tasks: TaskStore;
  readonly #jobs: JobStore;
  readonly #cancelScan: (principal: Principal, scanId: string) => Promise<unknown>;

  constructor(tasks: TaskStore, jobs: JobStore, cancelScan: (principal: Principal, scanId: string) => Promise<unknown>) {
    this.#tasks = tasks;
    this.#jobs = jobs;
    this.#cancelScan = cancelScan;
  }

  #taskOf(row: TaskRow): McpTask {
    const scan = row.scan_id ? this.#jobs.get(row.scan_id) : undefined;
    const status = (row.status as McpTask['status'] | null) ?? (scan ? taskStatusOf(scan.status) : 'failed');
    const updated = Math.max(row.updated_at, scan?.finished_at ?? 0, scan?.dispatched_at ?? 0);
    return {
      taskId: row.task_id,
      status,
      ...(row.status_message ? { statusMessage: row.status_message } : scan?.error ? { statusMessage: statusMessageOf(JSON.parse(scan.error) as ScanError) } : {}),
      createdAt: new Date(row.created_at).toISOString(),
      lastUpdatedAt: new Date(updated).toISOString(),
      ttl: row.ttl_ms,
      pollInterval: row.poll_interval_ms,
    };
  }

  /** Creates a task for a scan (or, with `result`, for a call that failed before any scan existed). */
  create(principal: Principal, options: { scanId: string | null; ttl: number | null; pollInterval: number; result: ToolResult | null }): McpTask {
    const now = Date.now();
    this.#tasks.prune(now);
    const ttl = options.ttl === null ? MAX_TASK_TTL_MS : Math.min(Math.max(options.ttl, 60_000), MAX_TASK_TTL_MS);
    const row: TaskRow = {
      task_id: options.scanId ?? newId('task'),
      token_id: principal.tokenId,
      scan_id: options.scanId,
      ttl_ms: ttl,
      poll_interval_ms: options.pollInterval,
      created_at: now,
      updated_at: now,
      status: options.result ? 'failed' : null,
      // A refused call: the task says why and what to do (clients such as the v1 SDK's callToolStream show a failed
      // task's statusMessage and do not fetch its result).
      status_message: options.result ? (options.result.content[0]?.text.replace(/\n/g, ' ') ?? null) : null,
      result: options.result ? JSON.stringify(options.result) : null,
    };
    this.#tasks.insert(row);
    return this.#taskOf(row);
  }

  get(principal: Principal, taskId: string): McpTask | null {
    const row = this.#tasks.get(principal.tokenId, taskId);
    return row ? this.#taskOf(row) : null;
  }

  /** The task's tool result once it has ended, else null. */
  result(principal: Principal, taskId: string): ToolResult | null {
    const row = this.#tasks.get(principal.tokenId, taskId);
    if (!row) return null;
    if (row.result) return JSON.parse(row.result) as ToolResult;
    const scan = row.scan_id ? this.#jobs.get(row.scan_id) : undefined;
    if (!scan || !TERMINAL.has(scan.status)) return null;
    return scanToolResult({ ...toScan(scan) });
  }

  async cancel(principal: Principal, taskId: string): Promise<McpTask | null> {
    const row = this.#tasks.get(principal.tokenId, taskId);
    if (!row) return null;
    if (row.scan_id) await this.#cancelScan(principal, row.scan_id);
    this.#tasks.setStatus(taskId, 'cancelled', 'Cancelled by the client', Date.now());
    return this.#taskOf(this.#tasks.get(principal.tokenId, taskId)!);
  }

  list(principal: Principal, cursor?: string): { tasks: McpTask[]; nextCursor?: string } {
    const rows = this.#tasks.list(principal.tokenId, 21, cursor);
    const page = rows.slice(0, 20);
    const last = page.at(-1);
    return { tasks: page.map((r) => this.#taskOf(r)), ...(rows.length > 20 && last && { nextCursor: `${last.created_at}.${last.task_id}` }) };
  }
}
