import type { JsonObject, JsonValue } from '../../shared/errors/index.ts';

/**
 * The audit log, in two tables that never share retention:
 *
 * - `audit_security`: who changed what — tokens, runners, grants, policy, breakers, dashboard logins (and their
 *   failures and throttling). Every action that does not start with `scan.` is a security event.
 * - `audit_scan`: scan decisions (`scan.create` accepted or refused, `scan.cancel`, `scan.finish`).
 *
 * Each table keeps its own newest N rows and none older than its age limit (`AuditRetention`), so scan traffic,
 * however heavy, can only ever prune scan rows. Refusals are aggregated: every `refused` decision lands in one row
 * per (action, token or actor, reason, minute) whose `count` grows, with the first and last time in that minute,
 * so a burst of refusals is a handful of rows, not one per request. Ids come from one sequence across both
 * tables, so the merged listing is newest first by id and one id is a cursor for both.
 */
export type AuditKind = 'security' | 'scan';

export interface AuditRetention {
  security: { maxRows: number; maxAgeMs: number };
  scan: { maxRows: number; maxAgeMs: number };
}

const DAY_MS = 24 * 3600 * 1000;

/** Documented in the README (Audit). Scan rows are many and short-lived; security rows few and kept long. */
export const DEFAULT_AUDIT_RETENTION: AuditRetention = {
  security: { maxRows: 50_000, maxAgeMs: 400 * DAY_MS },
  scan: { maxRows: 10_000, maxAgeMs: 90 * DAY_MS },
};

type RetentionEnv = Partial<
  Record<
    'AUDIT_SECURITY_MAX_ROWS' | 'AUDIT_SECURITY_MAX_AGE_DAYS' | 'AUDIT_SCAN_MAX_ROWS' | 'AUDIT_SCAN_MAX_AGE_DAYS',
    string
  >
>;

/** Retention from the Worker's vars; a missing, non-numeric or non-positive value keeps the default. */
export function auditRetention(env: RetentionEnv): AuditRetention {
  const num = (value: string | undefined, fallback: number) => {
    const n = Number(value);
    return Number.isFinite(n) && n > 0 ? n : fallback;
  };
  const d = DEFAULT_AUDIT_RETENTION;
  return {
    security: {
      maxRows: Math.floor(num(env.AUDIT_SECURITY_MAX_ROWS, d.security.maxRows)),
      maxAgeMs: num(env.AUDIT_SECURITY_MAX_AGE_DAYS, d.security.maxAgeMs / DAY_MS) * DAY_MS,
    },
    scan: {
      maxRows: Math.floor(num(env.AUDIT_SCAN_MAX_ROWS, d.scan.maxRows)),
      maxAgeMs: num(env.AUDIT_SCAN_MAX_AGE_DAYS, d.scan.maxAgeMs / DAY_MS) * DAY_MS,
    },
  };
}

/** The table an action belongs to. MUST stay in step with the classification in migration 5 (schema.ts). */
export function kindOf(action: string): AuditKind {
  return action.startsWith('scan.') ? 'scan' : 'security';
}

/**
 * The aggregation key of a decision, or null when it is kept as its own row. Refusals aggregate per action, token
 * (or actor when there is no token), reason and minute: the key says which row a refusal adds to.
 */
export function aggregationKey(
  at: number,
  actor: string,
  action: string,
  decision: string,
  detail: JsonObject,
): string | null {
  if (decision !== 'refused') return null;
  const minute = Math.floor(at / 60_000);
  const who = typeof detail.tokenId === 'string' ? `token:${detail.tokenId}` : `actor:${actor}`;
  const reason = typeof detail.reason === 'string' ? detail.reason.slice(0, 100) : '';
  return JSON.stringify([minute, action, who, reason]);
}

/**
 * A bounded copy of what a caller sent, for audit rows of refused requests (which were never validated): strings
 * cut to 200 characters, lists to 16 items, nesting to 3 levels. An audit row stays small whatever was sent.
 */
export function excerpt(value: unknown, depth = 0): JsonValue {
  if (typeof value === 'string')
    return value.length > 200 ? `${value.slice(0, 200)}… (${value.length} characters)` : value;
  if (value === null || typeof value !== 'object')
    return typeof value === 'number' || typeof value === 'boolean' ? value : String(value);
  if (depth >= 3) return '…';
  if (Array.isArray(value)) {
    const items = value.slice(0, 16).map((v) => excerpt(v, depth + 1));
    return value.length > 16 ? [...items, `… (${value.length} items)`] : items;
  }
  return Object.fromEntries(
    Object.entries(value)
      .slice(0, 16)
      .map(([k, v]) => [k.slice(0, 64), excerpt(v, depth + 1)]),
  );
}

/** One row of `GET /v1/audit`. An aggregated refusal has `count` > 1; `at` is its first time, `lastAt` its last. */
export interface AuditEntry {
  id: number;
  at: string;
  lastAt: string;
  count: number;
  kind: AuditKind;
  actor: string;
  action: string;
  decision: string;
  /** Of the first decision of an aggregated row. */
  detail: JsonObject;
}

/** A filter for `page`. `action` ending in `*` matches a prefix (`token.*`); times are epoch ms, inclusive. */
export interface AuditQuery {
  limit: number;
  before?: number;
  kind?: AuditKind;
  action?: string;
  actor?: string;
  since?: number;
  until?: number;
}

type Row = {
  id: number;
  at: number;
  last_at: number;
  count: number;
  kind: AuditKind;
  actor: string;
  action: string;
  decision: string;
  detail: string;
};

const TABLE: Record<AuditKind, string> = { security: 'audit_security', scan: 'audit_scan' };

export class AuditStore {
  #sql: SqlStorage;
  #retention: AuditRetention;
  #nextId: number;
  #inserts: Record<AuditKind, number> = { security: 0, scan: 0 };

  constructor(sql: SqlStorage, retention: AuditRetention = DEFAULT_AUDIT_RETENTION) {
    this.#sql = sql;
    this.#retention = retention;
    const max = sql
      .exec<{ m: number | null }>(
        'SELECT MAX(m) AS m FROM (SELECT MAX(id) AS m FROM audit_security UNION ALL SELECT MAX(id) FROM audit_scan)',
      )
      .one().m;
    this.#nextId = (max ?? 0) + 1;
  }

  record(actor: string, action: string, decision: string, detail: JsonObject = {}): void {
    const now = Date.now();
    const kind = kindOf(action);
    const table = TABLE[kind];
    const key = aggregationKey(now, actor, action, decision, detail);
    if (
      key !== null &&
      this.#sql.exec(`UPDATE ${table} SET count = count + 1, last_at = ? WHERE agg_key = ?`, now, key).rowsWritten > 0
    )
      return;
    this.#sql.exec(
      `INSERT INTO ${table} (id, at, last_at, count, actor, action, decision, detail, agg_key) VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?)`,
      this.#nextId++,
      now,
      now,
      actor,
      action,
      decision,
      JSON.stringify(detail),
      key,
    );
    this.#prune(kind, now);
  }

  /**
   * Keeps a table within its own retention. Finding the row-count cut walks the newest maxRows ids, so it runs
   * once per maxRows/100 inserts (at least every insert): a table holds at most maxRows + maxRows/100 rows.
   */
  #prune(kind: AuditKind, now: number): void {
    const { maxRows, maxAgeMs } = this.#retention[kind];
    if (++this.#inserts[kind] % Math.max(1, Math.floor(maxRows / 100)) !== 0) return;
    const table = TABLE[kind];
    this.#sql.exec(`DELETE FROM ${table} WHERE at < ?`, now - maxAgeMs);
    this.#sql.exec(
      `DELETE FROM ${table} WHERE id <= (SELECT id FROM ${table} ORDER BY id DESC LIMIT 1 OFFSET ?)`,
      maxRows,
    );
  }

  /** Newest first across both tables (or one `kind`); `before` is the id cursor from the previous page. */
  page(query: AuditQuery): { entries: AuditEntry[]; nextCursor: string | null } {
    const where = ['id < ?'];
    const args: unknown[] = [query.before ?? Number.MAX_SAFE_INTEGER];
    if (query.action?.endsWith('*')) {
      const prefix = query.action.slice(0, -1);
      where.push('substr(action, 1, ?) = ?');
      args.push(prefix.length, prefix);
    } else if (query.action) {
      where.push('action = ?');
      args.push(query.action);
    }
    if (query.actor) {
      where.push('actor = ?');
      args.push(query.actor);
    }
    if (query.since !== undefined) {
      where.push('last_at >= ?');
      args.push(query.since);
    }
    if (query.until !== undefined) {
      where.push('at <= ?');
      args.push(query.until);
    }
    const kinds: AuditKind[] = query.kind ? [query.kind] : ['security', 'scan'];
    const select = kinds.map(
      (k) =>
        `SELECT id, at, last_at, count, '${k}' AS kind, actor, action, decision, detail FROM ${TABLE[k]} WHERE ${where.join(' AND ')}`,
    );
    const rows = this.#sql
      .exec<Row>(
        `${select.join(' UNION ALL ')} ORDER BY id DESC LIMIT ?`,
        ...kinds.flatMap(() => args),
        query.limit + 1,
      )
      .toArray();
    const entries = rows.slice(0, query.limit).map((r) => ({
      id: r.id,
      at: new Date(r.at).toISOString(),
      lastAt: new Date(r.last_at).toISOString(),
      count: r.count,
      kind: r.kind,
      actor: r.actor,
      action: r.action,
      decision: r.decision,
      detail: JSON.parse(r.detail) as JsonObject,
    }));
    return { entries, nextCursor: rows.length > query.limit ? String(entries.at(-1)!.id) : null };
  }
}
