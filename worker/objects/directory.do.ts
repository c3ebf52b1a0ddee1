import { DurableObject } from 'cloudflare:workers';
import { LOGIN_FAILURE_LIMIT, LOGIN_WINDOW_MS } from '../domain/login-throttle.ts';
import type { Env } from '../env.ts';
import { LoginFailureStore } from '../storage/login-failures.store.ts';
import { applyMigrations, type Migration } from '../storage/migrations.ts';
import { EnrollmentStore, type EnrollmentRecord, type Redeemed } from '../storage/enrollments.store.ts';
import { GRANTS_MIGRATION_SQL, GrantStore, type GrantRecord } from '../storage/grants.store.ts';
import type { GrantCheck } from '../domain/oauth.ts';
import type { Role, TokenKind } from '../domain/tokens.ts';

/**
 * One shard of the token directory: token records by hash. The shard is chosen at random when a token is
 * minted and is written into the token, so authentication touches one shard only.
 */
const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'tokens',
    sql: `CREATE TABLE tokens (
      id TEXT PRIMARY KEY,
      hash TEXT NOT NULL UNIQUE,
      kind TEXT NOT NULL,
      role TEXT NOT NULL,
      name TEXT NOT NULL,
      pool TEXT NOT NULL,
      runner_id TEXT,
      created_at INTEGER NOT NULL,
      last_used_at INTEGER,
      revoked_at INTEGER
    )`,
  },
  {
    version: 2,
    name: 'dashboard sessions',
    sql: `CREATE TABLE sessions (
      hash TEXT PRIMARY KEY,
      csrf TEXT NOT NULL,
      token_id TEXT NOT NULL,
      name TEXT NOT NULL,
      pool TEXT NOT NULL,
      created_at INTEGER NOT NULL,
      expires_at INTEGER NOT NULL
    )`,
  },
  {
    version: 3,
    name: 'login throttling',
    sql: `CREATE TABLE login_failures (bucket TEXT NOT NULL, at INTEGER NOT NULL);
      CREATE INDEX login_failures_by_bucket ON login_failures (bucket, at);
      CREATE INDEX login_failures_by_time ON login_failures (at);`,
  },
  {
    version: 4,
    name: 'runner enrollment codes',
    // Hashes only (worker/storage/enrollments.store.ts); the runner's shard, so revoking the runner reaches them.
    sql: `CREATE TABLE enrollments (
      hash TEXT PRIMARY KEY,
      runner_id TEXT NOT NULL,
      name TEXT NOT NULL,
      pool TEXT NOT NULL,
      created_by TEXT NOT NULL,
      created_at INTEGER NOT NULL,
      expires_at INTEGER NOT NULL,
      used_at INTEGER,
      revoked_at INTEGER
    );
    CREATE INDEX enrollments_by_runner ON enrollments (runner_id);`,
  },
  {
    version: 5,
    name: 'oauth grants and consent sign-ins',
    // Grants: storage/grants.store.ts. Sessions gain a purpose (the dashboard's, or a sign-in on the OAuth consent
    // page, which a scan token may make) and the role of the token behind them; existing rows are dashboard admins.
    sql: `${GRANTS_MIGRATION_SQL}
      ALTER TABLE sessions ADD COLUMN purpose TEXT NOT NULL DEFAULT 'dashboard';
      ALTER TABLE sessions ADD COLUMN role TEXT NOT NULL DEFAULT 'admin';`,
  },
];

/** A dashboard login. Kept in the shard of the token that logged in, so revoking that token ends it. */
export interface SessionRecord {
  csrf: string;
  tokenId: string;
  name: string;
  pool: string;
  expiresAt: number;
  /** What the session opens: the dashboard (admins only) or the OAuth consent page. Default dashboard. */
  purpose?: SessionPurpose;
  /** The role of the token that signed in. Default admin (every dashboard session). */
  role?: Role;
}

export type SessionPurpose = 'dashboard' | 'consent';

export interface TokenRecord {
  id: string;
  kind: TokenKind;
  role: Role;
  name: string;
  pool: string;
  runnerId: string | null;
  createdAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

type Row = {
  id: string;
  kind: string;
  role: string;
  name: string;
  pool: string;
  runner_id: string | null;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
};

function toRecord(r: Row): TokenRecord {
  return {
    id: r.id,
    kind: r.kind as TokenKind,
    role: r.role as Role,
    name: r.name,
    pool: r.pool,
    runnerId: r.runner_id,
    createdAt: r.created_at,
    lastUsedAt: r.last_used_at,
    revokedAt: r.revoked_at,
  };
}

/** Writing last-used on every request would make each read a write; once a minute is enough to audit use. */
const LAST_USED_RESOLUTION_MS = 60_000;

export class Directory extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    applyMigrations(ctx.storage.sql, MIGRATIONS);
  }

  store(record: Omit<TokenRecord, 'lastUsedAt' | 'revokedAt'> & { hash: string }): void {
    this.ctx.storage.sql.exec(
      'INSERT INTO tokens (id, hash, kind, role, name, pool, runner_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      record.id,
      record.hash,
      record.kind,
      record.role,
      record.name,
      record.pool,
      record.runnerId,
      record.createdAt,
    );
  }

  /** The live (not revoked) token with this hash, or null. */
  verify(hash: string): TokenRecord | null {
    const row = this.ctx.storage.sql
      .exec<Row>('SELECT * FROM tokens WHERE hash = ? AND revoked_at IS NULL', hash)
      .toArray()[0];
    if (!row) return null;
    const now = Date.now();
    if (row.last_used_at === null || now - row.last_used_at > LAST_USED_RESOLUTION_MS) {
      this.ctx.storage.sql.exec('UPDATE tokens SET last_used_at = ? WHERE id = ?', now, row.id);
      row.last_used_at = now;
    }
    return toRecord(row);
  }

  list(): TokenRecord[] {
    return this.ctx.storage.sql.exec<Row>('SELECT * FROM tokens ORDER BY created_at').toArray().map(toRecord);
  }

  createSession(hash: string, session: SessionRecord): void {
    const now = Date.now();
    this.ctx.storage.sql.exec('DELETE FROM sessions WHERE expires_at < ?', now);
    this.ctx.storage.sql.exec(
      'INSERT INTO sessions (hash, csrf, token_id, name, pool, created_at, expires_at, purpose, role) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      hash,
      session.csrf,
      session.tokenId,
      session.name,
      session.pool,
      now,
      session.expiresAt,
      session.purpose ?? 'dashboard',
      session.role ?? 'admin',
    );
  }

  /**
   * A live session of this purpose: not expired, and its token (unless the bootstrap admin's) not revoked since.
   * A consent sign-in never opens the dashboard, nor a dashboard session the consent page's sign-in slot.
   */
  session(hash: string, purpose: SessionPurpose = 'dashboard'): SessionRecord | null {
    const row = this.ctx.storage.sql
      .exec<{
        csrf: string;
        token_id: string;
        name: string;
        pool: string;
        expires_at: number;
        role: string;
        revoked: number;
      }>(
        `SELECT s.csrf, s.token_id, s.name, s.pool, s.expires_at, s.role,
           CASE WHEN s.token_id = 'admin-bootstrap' THEN 0 WHEN t.id IS NULL OR t.revoked_at IS NOT NULL THEN 1 ELSE 0 END AS revoked
         FROM sessions s LEFT JOIN tokens t ON t.id = s.token_id WHERE s.hash = ? AND s.purpose = ?`,
        hash,
        purpose,
      )
      .toArray()[0];
    if (!row || row.revoked || row.expires_at < Date.now()) return null;
    return {
      csrf: row.csrf,
      tokenId: row.token_id,
      name: row.name,
      pool: row.pool,
      expiresAt: row.expires_at,
      purpose,
      role: row.role as Role,
    };
  }

  deleteSession(hash: string): void {
    this.ctx.storage.sql.exec('DELETE FROM sessions WHERE hash = ?', hash);
  }

  /** Failed dashboard logins of a throttling bucket (worker/http/dashboard/login.ts) inside the window, newest first. */
  loginFailures(bucket: string): number[] {
    return new LoginFailureStore(this.ctx.storage.sql).recent(
      bucket,
      Date.now() - LOGIN_WINDOW_MS,
      LOGIN_FAILURE_LIMIT,
    );
  }

  loginFailed(bucket: string): void {
    const now = Date.now();
    new LoginFailureStore(this.ctx.storage.sql).add(bucket, now, now - LOGIN_WINDOW_MS);
  }

  /** Stores a runner's enrollment code (by hash); an unused earlier code of the runner stops working. */
  storeEnrollment(hash: string, record: EnrollmentRecord): void {
    new EnrollmentStore(this.ctx.storage.sql).add(hash, record);
  }

  /**
   * Redeems an enrollment code and stores the runner token minted for it, in one step: the code works once, and
   * only while neither expired nor revoked. The token's id and hash come from the caller (hashing is async).
   */
  redeemEnrollment(codeHash: string, token: { id: string; hash: string }): Redeemed {
    const now = Date.now();
    const redeemed = new EnrollmentStore(this.ctx.storage.sql).redeem(codeHash, now);
    if (!redeemed.ok) return redeemed;
    const { record } = redeemed;
    this.store({
      id: token.id,
      hash: token.hash,
      kind: 'runner',
      role: 'runner',
      name: record.name,
      pool: record.pool,
      runnerId: record.runnerId,
      createdAt: now,
    });
    return redeemed;
  }

  /** Records an approved OAuth grant (storage/grants.store.ts), in the approving token's shard. */
  storeGrant(grant: Omit<GrantRecord, 'lastUsedAt' | 'revokedAt' | 'approverRevoked'>): void {
    new GrantStore(this.ctx.storage.sql).add(grant);
  }

  /**
   * The per-request check of an OAuth token, in one call: the grant is not revoked and the token that approved it
   * is still valid. Touches last-used at most once a minute.
   */
  checkGrant(id: string): GrantCheck | null {
    return new GrantStore(this.ctx.storage.sql).check(id, Date.now(), LAST_USED_RESOLUTION_MS);
  }

  listGrants(): GrantRecord[] {
    return new GrantStore(this.ctx.storage.sql).list();
  }

  revokeGrant(id: string): GrantRecord | null {
    return new GrantStore(this.ctx.storage.sql).revoke(id, Date.now());
  }

  /** Revokes a token by id, or (for runners) every token and enrollment code of a runner; returns the tokens. */
  revoke(selector: { id: string } | { runnerId: string }): TokenRecord[] {
    const now = Date.now();
    const [column, value] = 'id' in selector ? ['id', selector.id] : ['runner_id', selector.runnerId];
    this.ctx.storage.sql.exec(
      `UPDATE tokens SET revoked_at = ? WHERE ${column} = ? AND revoked_at IS NULL`,
      now,
      value,
    );
    const records = this.ctx.storage.sql
      .exec<Row>(`SELECT * FROM tokens WHERE ${column} = ?`, value)
      .toArray()
      .map(toRecord);
    // Revoking a runner's token revokes the runner (admin.api.ts): its unused enrollment codes go with it.
    const runnerId = 'runnerId' in selector ? selector.runnerId : records[0]?.runnerId;
    if (runnerId) new EnrollmentStore(this.ctx.storage.sql).revokeRunner(runnerId, now);
    return records;
  }
}

export function getDirectory(env: Env, shard: string): DurableObjectStub<Directory> {
  return env.DIRECTORY.get(env.DIRECTORY.idFromName(`shard-${shard}`));
}
