/**
 * Schema migrations for a Durable Object's SQLite storage.
 *
 * Each migration runs once, in order, inside the object's own storage; the versions applied are kept in the
 * `schema_migrations` table so an object that wakes up on newer code upgrades itself before it serves anything.
 * Migrations MUST be append-only: never edit or reorder one that has shipped.
 */
export interface Migration {
  /** Strictly increasing, starting at 1. */
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

/** Applies every migration newer than the stored version; returns the version the storage is at afterwards. */
export function applyMigrations(sql: SqlStorage, migrations: readonly Migration[]): number {
  sql.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL
  )`);
  const row = sql.exec<{ v: number | null }>('SELECT MAX(version) AS v FROM schema_migrations').one();
  let current = row.v ?? 0;
  for (const migration of migrations) {
    if (migration.version <= current) continue;
    if (migration.version !== current + 1) {
      throw new Error(`migration ${migration.version} (${migration.name}) skips a version after ${current}`);
    }
    sql.exec(migration.sql);
    sql.exec(
      'INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)',
      migration.version,
      migration.name,
      new Date().toISOString(),
    );
    current = migration.version;
  }
  return current;
}
