import { type EnrollmentVerdict, enrollmentVerdict } from '../domain/enrollment.ts';

/**
 * Runner enrollment codes in a Directory shard (worker/domain/enrollment.ts), by the SHA-256 hash of the code:
 * the code itself is never stored. Redeeming is one synchronous call inside the object, so a code cannot be used
 * twice by two requests racing.
 */
export interface EnrollmentRecord {
  runnerId: string;
  name: string;
  pool: string;
  createdBy: string;
  createdAt: number;
  expiresAt: number;
}

export type Redeemed =
  | { ok: true; record: EnrollmentRecord }
  | { ok: false; reason: Exclude<EnrollmentVerdict, 'ok'>; record: EnrollmentRecord }
  | { ok: false; reason: 'unknown' };

type Row = {
  runner_id: string;
  name: string;
  pool: string;
  created_by: string;
  created_at: number;
  expires_at: number;
  used_at: number | null;
  revoked_at: number | null;
};

export class EnrollmentStore {
  #sql: SqlStorage;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
  }

  /** Stores a new code for a runner; any unused earlier code of that runner stops working (superseded). */
  add(hash: string, record: EnrollmentRecord): void {
    this.#sql.exec(
      'UPDATE enrollments SET revoked_at = ? WHERE runner_id = ? AND used_at IS NULL AND revoked_at IS NULL',
      record.createdAt,
      record.runnerId,
    );
    this.#sql.exec(
      `INSERT INTO enrollments (hash, runner_id, name, pool, created_by, created_at, expires_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
      hash,
      record.runnerId,
      record.name,
      record.pool,
      record.createdBy,
      record.createdAt,
      record.expiresAt,
    );
  }

  /**
   * Marks the code used if it may be redeemed now; says why not otherwise (`unknown`: no such code). A known
   * code's record comes back either way, so a refusal can be audited in the runner's pool.
   */
  redeem(hash: string, now: number): Redeemed {
    const row = this.#sql.exec<Row>('SELECT * FROM enrollments WHERE hash = ?', hash).toArray()[0];
    if (!row) return { ok: false, reason: 'unknown' };
    const record: EnrollmentRecord = {
      runnerId: row.runner_id,
      name: row.name,
      pool: row.pool,
      createdBy: row.created_by,
      createdAt: row.created_at,
      expiresAt: row.expires_at,
    };
    const verdict = enrollmentVerdict(
      { expiresAt: row.expires_at, usedAt: row.used_at, revokedAt: row.revoked_at },
      now,
    );
    if (verdict !== 'ok') return { ok: false, reason: verdict, record };
    this.#sql.exec('UPDATE enrollments SET used_at = ? WHERE hash = ?', now, hash);
    return { ok: true, record };
  }

  revokeRunner(runnerId: string, now: number): void {
    this.#sql.exec('UPDATE enrollments SET revoked_at = ? WHERE runner_id = ? AND revoked_at IS NULL', now, runnerId);
  }
}
