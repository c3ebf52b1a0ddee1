/**
 * The audit log: every decision (who, when, what, accepted or why not, outcome). Retention is bounded: the
 * newest MAX_ROWS entries and at most MAX_AGE_MS old, pruned as entries are written.
 */
export const AUDIT_MAX_ROWS = 10_000;
export const AUDIT_MAX_AGE_MS = 90 * 24 * 3600 * 1000;

/**
 * A bounded copy of what a caller sent, for audit rows of refused requests (which were never validated): strings
 * cut to 200 characters, lists to 16 items, nesting to 3 levels. An audit row stays small whatever was sent.
 */
export function excerpt(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return value.length > 200 ? `${value.slice(0, 200)}… (${value.length} characters)` : value;
  if (value === null || typeof value !== 'object') return typeof value === 'number' || typeof value === 'boolean' ? value : String(value);
  if (depth >= 3) return '…';
  if (Array.isArray(value)) {
    const items = value.slice(0, 16).map((v) => excerpt(v, depth + 1));
    return value.length > 16 ? [...items, `… (${value.length} items)`] : items;
  }
  return Object.fromEntries(Object.entries(value).slice(0, 16).map(([k, v]) => [k.slice(0, 64), excerpt(v, depth + 1)]));
}

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
