import { DurableObject } from 'cloudflare:workers';
import type { Env } from './env.ts';
import { applyMigrations, type Migration } from './storage/migrations.ts';

/**
 * The coordinator of one runner pool. It will hold the pool's runner sockets, breakers, queue and jobs
 * (control-plane issue); for now it owns its schema and answers a health probe, which proves the
 * SQLite-backed Durable Object tier end to end.
 */
const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'meta',
    sql: `CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
  },
];

export interface CoordinatorHealth {
  schemaVersion: number;
  startedAt: string;
}

export class Coordinator extends DurableObject<Env> {
  readonly #schemaVersion: number;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    // Synchronous SQLite calls in the constructor run before any request is delivered.
    this.#schemaVersion = applyMigrations(ctx.storage.sql, MIGRATIONS);
    ctx.storage.sql.exec(
      `INSERT INTO meta (key, value) VALUES ('started_at', ?) ON CONFLICT(key) DO NOTHING`,
      new Date().toISOString(),
    );
  }

  health(): CoordinatorHealth {
    const startedAt = this.ctx.storage.sql
      .exec<{ value: string }>(`SELECT value FROM meta WHERE key = 'started_at'`)
      .one().value;
    return { schemaVersion: this.#schemaVersion, startedAt };
  }
}

/** The coordinator of the named pool (one pool, `default`, until sharding lands). */
export function getCoordinator(env: Env, pool = 'default'): DurableObjectStub<Coordinator> {
  return env.COORDINATOR.get(env.COORDINATOR.idFromName(pool));
}
