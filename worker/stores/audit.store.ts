/**
 * The audit log: every decision (who, when, what, accepted or why not, outcome). Retention is bounded: the
 * newest MAX_ROWS entries and at most MAX_AGE_MS old, pruned as entries are written.
 */
export const AUDIT_MAX_ROWS = 10_000;
export const AUDIT_MAX_AGE_MS = 90 * 24 * 3600 * 1000;

export interface AuditEntry {
  id: number;
  at: string;
  actor: string;
  action: string;
  decision: string;
  detail: Record<string, unknown>;
}

export class AuditStore {
  #sql: SqlStorage;
  #writes = 0;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
  }

  record(actor: string, action: string, decision: string, detail: Record<string, unknown> = {}): void {
    const now = Date.now();
    this.#sql.exec('INSERT INTO audit (at, actor, action, decision, detail) VALUES (?, ?, ?, ?, ?)', now, actor, action, decision, JSON.stringify(detail));
    if (++this.#writes % 100 === 0) {
      this.#sql.exec('DELETE FROM audit WHERE at < ? OR id <= (SELECT MAX(id) FROM audit) - ?', now - AUDIT_MAX_AGE_MS, AUDIT_MAX_ROWS);
    }
  }

  /** Newest first; `before` is the id cursor from the previous page. */
  page(limit: number, before?: number): { entries: AuditEntry[]; nextCursor: string | null } {
    const rows = this.#sql
      .exec<{ id: number; at: number; actor: string; action: string; decision: string; detail: string }>(
        'SELECT * FROM audit WHERE id < ? ORDER BY id DESC LIMIT ?',
        before ?? Number.MAX_SAFE_INTEGER,
        limit + 1,
      )
      .toArray();
    const entries = rows.slice(0, limit).map((r) => ({ id: r.id, at: new Date(r.at).toISOString(), actor: r.actor, action: r.action, decision: r.decision, detail: JSON.parse(r.detail) as Record<string, unknown> }));
    return { entries, nextCursor: rows.length > limit ? String(entries.at(-1)!.id) : null };
  }
}
