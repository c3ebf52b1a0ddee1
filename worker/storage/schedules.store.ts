import type { ScheduleSpec } from '../domain/schedule.ts';

/** Scan schedules in the Coordinator's SQLite storage (migration 8). */
export interface ScheduleRecord {
  id: string;
  name: string;
  spec: ScheduleSpec;
  enabled: boolean;
  /** Set when a run was refused by the policy: the schedule is paused until an admin changes or resumes it. */
  pausedReason: string | null;
  createdBy: string;
  createdAt: number;
  updatedAt: number;
  nextRunAt: number | null;
  lastRunAt: number | null;
  lastScanId: string | null;
  /** What its last due time did: started, skipped (why), failed to start (why). */
  lastOutcome: string | null;
}

type Row = {
  id: string;
  name: string;
  spec: string;
  enabled: number;
  paused_reason: string | null;
  created_by: string;
  created_at: number;
  updated_at: number;
  next_run_at: number | null;
  last_run_at: number | null;
  last_scan_id: string | null;
  last_outcome: string | null;
};

function toRecord(row: Row): ScheduleRecord {
  return {
    id: row.id,
    name: row.name,
    spec: JSON.parse(row.spec) as ScheduleSpec,
    enabled: row.enabled === 1,
    pausedReason: row.paused_reason,
    createdBy: row.created_by,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    nextRunAt: row.next_run_at,
    lastRunAt: row.last_run_at,
    lastScanId: row.last_scan_id,
    lastOutcome: row.last_outcome,
  };
}

export class ScheduleStore {
  #sql: SqlStorage;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
  }

  list(): ScheduleRecord[] {
    return this.#sql.exec<Row>('SELECT * FROM schedules ORDER BY name').toArray().map(toRecord);
  }

  count(): number {
    return this.#sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM schedules').one().n;
  }

  /** By id or by name. */
  get(idOrName: string): ScheduleRecord | undefined {
    const row = this.#sql
      .exec<Row>('SELECT * FROM schedules WHERE id = ? OR name = ?', idOrName, idOrName)
      .toArray()[0];
    return row && toRecord(row);
  }

  insert(r: ScheduleRecord): void {
    this.#sql.exec(
      'INSERT INTO schedules VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      r.id,
      r.name,
      JSON.stringify(r.spec),
      r.enabled ? 1 : 0,
      r.pausedReason,
      r.createdBy,
      r.createdAt,
      r.updatedAt,
      r.nextRunAt,
      r.lastRunAt,
      r.lastScanId,
      r.lastOutcome,
    );
  }

  save(r: ScheduleRecord): void {
    this.#sql.exec(
      `UPDATE schedules SET spec = ?, enabled = ?, paused_reason = ?, updated_at = ?, next_run_at = ?, last_run_at = ?,
         last_scan_id = ?, last_outcome = ? WHERE id = ?`,
      JSON.stringify(r.spec),
      r.enabled ? 1 : 0,
      r.pausedReason,
      r.updatedAt,
      r.nextRunAt,
      r.lastRunAt,
      r.lastScanId,
      r.lastOutcome,
      r.id,
    );
  }

  delete(id: string): void {
    this.#sql.exec('DELETE FROM schedules WHERE id = ?', id);
  }

  /** Enabled, unpaused schedules due at `now`. */
  due(now: number): ScheduleRecord[] {
    return this.#sql
      .exec<Row>(
        'SELECT * FROM schedules WHERE enabled = 1 AND paused_reason IS NULL AND next_run_at IS NOT NULL AND next_run_at <= ? ORDER BY next_run_at',
        now,
      )
      .toArray()
      .map(toRecord);
  }

  nextDue(): number | null {
    return this.#sql
      .exec<{ t: number | null }>(
        'SELECT MIN(next_run_at) AS t FROM schedules WHERE enabled = 1 AND paused_reason IS NULL',
      )
      .one().t;
  }
}
