import type { ScanError } from '../../../shared/errors/index.ts';
import type { Principal } from '../../domain/principal.ts';
import { TERMINAL, type Scan } from '../../../shared/scan/index.ts';
import { toScan, type JobStore } from '../../storage/jobs.store.ts';
import {
  MAX_TASK_TTL_MS,
  taskStatusOf,
  type McpTask,
  type TaskRow,
  type TaskStore,
} from '../../storage/tasks.store.ts';
import { newId } from '../../domain/tokens.ts';

/**
 * A task as the Coordinator keeps it. The MCP wording of a failed scan's status message and the tool result are
 * built on the Worker side (worker/http/mcp/task-store.ts) from `scanError` and `scan`: the object knows no MCP types.
 */
export type TaskRecord = McpTask & { scanError?: ScanError };

/** What a task's result is made of: a stored one (a call refused before any scan existed), or its ended scan. */
export type TaskOutcome = { stored: string } | { scan: Scan };

/**
 * MCP tasks inside the Coordinator: a task is a row bound to the token that made it, and its status and result
 * follow its scan's (so nothing has to be copied when the scan ends).
 */
export class TaskBook {
  readonly #tasks: TaskStore;
  readonly #jobs: JobStore;

  constructor(tasks: TaskStore, jobs: JobStore) {
    this.#tasks = tasks;
    this.#jobs = jobs;
  }

  #recordOf(row: TaskRow): TaskRecord {
    const scan = row.scan_id ? this.#jobs.get(row.scan_id) : undefined;
    const status = (row.status as McpTask['status'] | null) ?? (scan ? taskStatusOf(scan.status) : 'failed');
    const updated = Math.max(row.updated_at, scan?.finished_at ?? 0, scan?.dispatched_at ?? 0);
    return {
      taskId: row.task_id,
      status,
      ...(row.status_message
        ? { statusMessage: row.status_message }
        : scan?.error
          ? { scanError: JSON.parse(scan.error) as ScanError }
          : {}),
      createdAt: new Date(row.created_at).toISOString(),
      lastUpdatedAt: new Date(updated).toISOString(),
      ttl: row.ttl_ms,
      pollInterval: row.poll_interval_ms,
    };
  }

  /** Creates a task for a scan, or (with `failure`) for a call refused before any scan existed. */
  create(
    principal: Principal,
    options: {
      scanId: string | null;
      ttl: number | null;
      pollInterval: number;
      failure: { message: string; result: string } | null;
    },
  ): TaskRecord {
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
      status: options.failure ? 'failed' : null,
      status_message: options.failure?.message ?? null,
      result: options.failure?.result ?? null,
    };
    this.#tasks.insert(row);
    return this.#recordOf(row);
  }

  get(principal: Principal, taskId: string): TaskRecord | null {
    const row = this.#tasks.get(principal.tokenId, taskId);
    return row ? this.#recordOf(row) : null;
  }

  /** What the task's result is made of once it has ended, else null. */
  outcome(principal: Principal, taskId: string): TaskOutcome | null {
    const row = this.#tasks.get(principal.tokenId, taskId);
    if (!row) return null;
    if (row.result) return { stored: row.result };
    const scan = row.scan_id ? this.#jobs.get(row.scan_id) : undefined;
    if (!scan || !TERMINAL.has(scan.status)) return null;
    return { scan: toScan(scan) };
  }

  /** Marks the task cancelled (the caller cancels its scan first); null if it is not the caller's. */
  cancel(principal: Principal, taskId: string): TaskRecord | null {
    if (!this.#tasks.get(principal.tokenId, taskId)) return null;
    this.#tasks.setStatus(taskId, 'cancelled', 'Cancelled by the client', Date.now());
    return this.#recordOf(this.#tasks.get(principal.tokenId, taskId)!);
  }

  scanOf(principal: Principal, taskId: string): string | null {
    return this.#tasks.get(principal.tokenId, taskId)?.scan_id ?? null;
  }

  list(principal: Principal, cursor?: string): { tasks: TaskRecord[]; nextCursor?: string } {
    const rows = this.#tasks.list(principal.tokenId, 21, cursor);
    const page = rows.slice(0, 20);
    const last = page.at(-1);
    return {
      tasks: page.map((r) => this.#recordOf(r)),
      ...(rows.length > 20 && last && { nextCursor: `${last.created_at}.${last.task_id}` }),
    };
  }
}
