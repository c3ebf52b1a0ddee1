import type { GrantCheck } from '../domain/oauth.ts';

/**
 * OAuth grants (worker/domain/oauth.ts) in the Directory shard of the token that approved them, next to that
 * token's record, so one query answers "is this grant live and is its approver still valid?".
 */
export interface GrantRecord {
  id: string;
  clientId: string;
  clientName: string;
  /** Where the client's tokens go (the redirect URI's host), as shown on the consent page. */
  redirectHost: string;
  tokenId: string;
  tokenName: string;
  scopes: string[];
  pool: string;
  createdAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
  /** The approving token was revoked (or is gone): the grant is dead though not revoked itself. */
  approverRevoked: boolean;
}

type Row = {
  id: string;
  client_id: string;
  client_name: string;
  redirect_host: string;
  token_id: string;
  token_name: string;
  scopes: string;
  pool: string;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
  approver_revoked: number;
};

/** The bootstrap admin has no token record: it is valid while the Worker has its secret (as for sessions). */
const SELECT = `SELECT g.*,
    CASE WHEN g.token_id = 'admin-bootstrap' THEN 0 WHEN t.id IS NULL OR t.revoked_at IS NOT NULL THEN 1 ELSE 0 END
      AS approver_revoked
  FROM oauth_grants g LEFT JOIN tokens t ON t.id = g.token_id`;

function toRecord(r: Row): GrantRecord {
  return {
    id: r.id,
    clientId: r.client_id,
    clientName: r.client_name,
    redirectHost: r.redirect_host,
    tokenId: r.token_id,
    tokenName: r.token_name,
    scopes: r.scopes.split(' ').filter(Boolean),
    pool: r.pool,
    createdAt: r.created_at,
    lastUsedAt: r.last_used_at,
    revokedAt: r.revoked_at,
    approverRevoked: r.approver_revoked === 1,
  };
}

export const GRANTS_MIGRATION_SQL = `CREATE TABLE oauth_grants (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    client_name TEXT NOT NULL,
    redirect_host TEXT NOT NULL,
    token_id TEXT NOT NULL,
    token_name TEXT NOT NULL,
    scopes TEXT NOT NULL,
    pool TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at INTEGER
  );
  CREATE INDEX oauth_grants_by_token ON oauth_grants (token_id);`;

export class GrantStore {
  #sql: SqlStorage;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
  }

  add(g: Omit<GrantRecord, 'lastUsedAt' | 'revokedAt' | 'approverRevoked'>): void {
    this.#sql.exec(
      `INSERT INTO oauth_grants (id, client_id, client_name, redirect_host, token_id, token_name, scopes, pool, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      g.id,
      g.clientId,
      g.clientName,
      g.redirectHost,
      g.tokenId,
      g.tokenName,
      g.scopes.join(' '),
      g.pool,
      g.createdAt,
    );
  }

  /**
   * The grant if it is live (not revoked, approver valid), touching last-used at most once per `resolutionMs`;
   * null otherwise. This is the per-request check of every OAuth token.
   */
  check(id: string, now: number, resolutionMs: number): GrantCheck | null {
    const row = this.#sql.exec<Row>(`${SELECT} WHERE g.id = ?`, id).toArray()[0];
    if (!row || row.revoked_at !== null || row.approver_revoked === 1) return null;
    if (row.last_used_at === null || now - row.last_used_at > resolutionMs)
      this.#sql.exec('UPDATE oauth_grants SET last_used_at = ? WHERE id = ?', now, id);
    return {
      grantId: row.id,
      clientId: row.client_id,
      clientName: row.client_name,
      scopes: row.scopes.split(' ').filter(Boolean),
      pool: row.pool,
      approvedBy: row.token_name,
    };
  }

  get(id: string): GrantRecord | null {
    const row = this.#sql.exec<Row>(`${SELECT} WHERE g.id = ?`, id).toArray()[0];
    return row ? toRecord(row) : null;
  }

  list(): GrantRecord[] {
    return this.#sql.exec<Row>(`${SELECT} ORDER BY g.created_at`).toArray().map(toRecord);
  }

  /** Marks the grant revoked; returns it, or null when there is no such grant. Revoking twice keeps the first time. */
  revoke(id: string, now: number): GrantRecord | null {
    this.#sql.exec('UPDATE oauth_grants SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL', now, id);
    return this.get(id);
  }
}
