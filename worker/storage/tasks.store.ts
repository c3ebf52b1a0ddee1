import type { JobStatus } from '../../shared/scan/index.ts';

/**
 * MCP tasks (task-augmented tools/call), kept in the Coordinator so a client can start a scan, poll it and fetch
 * the result from any later request (the MCP endpoint is stateless). A task belongs to the token that created it:
 * any other token is told it does not exist. A task's status follows its scan's.
 */
export type TaskStatus = 'working' | 'input_required' | 'completed' | 'failed' | 'cancelled';

export interface McpTask {
  taskId: string;
  status: TaskStatus;
  statusMessage?: string;
  createdAt: string;
  lastUpdatedAt: string;
  ttl: number | null;
  pollInterval: number;
}

export type TaskRow = {
  task_id: string;
  token_id: string;
  scan_id: string | null;
  ttl_ms: number | null;
  poll_interval_ms: number;
  created_at: number;
  updated_at: number;
  status: string | null;
  status_message: string | null;
  result: string | null;
};

export function taskStatusOf(scan: JobStatus): TaskStatus {
  if (scan === 'succeeded') return 'completed';
  if (scan === 'failed' || scan === 'rejected') return 'failed';
  if (scan === 'cancelled') return 'cancelled';
  return 'working';
}

/** Longest a finished task is kept when the client asked for no limit. */
export const MAX_TASK_TTL_MS = 24 * 3600 * 1000;

export class TaskStore {
  #sql: SqlStorage;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
  }

  insert(row: TaskRow): void {
    this.#sql.exec(
      'INSERT INTO mcp_tasks (task_id, token_id, scan_id, ttl_ms, poll_interval_ms, created_at, updated_at, status, status_message, result) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      row.task_id,
      row.token_id,
      row.scan_id,
      row.ttl_ms,
      row.poll_interval_ms,
      row.created_at,
      row.updated_at,
      row.status,
      row.status_message,
      row.result,
    );
  }

  get(tokenId: string, taskId: string): TaskRow | undefined {
    return this.#sql
      .exec<TaskRow>('SELECT * FROM mcp_tasks WHERE task_id = ? AND token_id = ?', taskId, tokenId)
      .toArray()[0];
  }

  setStatus(taskId: string, status: TaskStatus, message: string | null, now: number): void {
    this.#sql.exec(
      'UPDATE mcp_tasks SET status = ?, status_message = ?, updated_at = ? WHERE task_id = ?',
      status,
      message,
      now,
      taskId,
    );
  }

  list(tokenId: string, limit: number, before?: string): TaskRow[] {
    const [at, id] = (before ?? '').split('.');
    return before
      ? this.#sql
          .exec<TaskRow>(
            'SELECT * FROM mcp_tasks WHERE token_id = ? AND (created_at < ? OR (created_at = ? AND task_id < ?)) ORDER BY created_at DESC, task_id DESC LIMIT ?',
            tokenId,
            Number(at),
            Number(at),
            id ?? '',
            limit,
          )
          .toArray()
      : this.#sql
          .exec<TaskRow>(
            'SELECT * FROM mcp_tasks WHERE token_id = ? ORDER BY created_at DESC, task_id DESC LIMIT ?',
            tokenId,
            limit,
          )
          .toArray();
  }

  /** Drops tasks past their time to live (counted from creation, bounded by MAX_TASK_TTL_MS). */
  prune(now: number): void {
    this.#sql.exec('DELETE FROM mcp_tasks WHERE created_at + COALESCE(ttl_ms, ?) < ?', MAX_TASK_TTL_MS, now);
  }
}
