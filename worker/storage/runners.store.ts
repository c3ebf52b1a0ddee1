import type { Hello } from '../../shared/protocol/index.ts';
import type { Breaker } from '../domain/breaker.ts';

export interface RunnerRecord {
  id: string;
  name: string;
  createdAt: number;
  revokedAt: number | null;
  connected: boolean;
  lastSeen: number | null;
  /** What the runner declared in its last hello (version, nmap, privileged, networks, concurrency). */
  hello: Hello | null;
  /** The networks an admin granted this runner; its hello may declare these or parts of them, nothing else. */
  granted: string[] | null;
  breaker: Breaker;
  /** The latest refused second connection with this runner's token from another host, if any. */
  conflict: RunnerConflict | null;
}

/** A second host presenting a live runner's token: refused, and shown until it stops trying. */
export interface RunnerConflict {
  /** The host holding the link. */
  liveHost: string | null;
  /** The host that was refused. */
  refusedHost: string | null;
  firstAt: number;
  lastAt: number;
  attempts: number;
}

type Row = {
  id: string;
  name: string;
  created_at: number;
  revoked_at: number | null;
  connected: number;
  last_seen: number | null;
  hello: string | null;
  granted: string | null;
  breaker: string;
  conflict: string | null;
};

function toRecord(r: Row): RunnerRecord {
  return {
    id: r.id,
    name: r.name,
    createdAt: r.created_at,
    revokedAt: r.revoked_at,
    connected: r.connected === 1,
    lastSeen: r.last_seen,
    hello: r.hello ? (JSON.parse(r.hello) as Hello) : null,
    granted: r.granted ? (JSON.parse(r.granted) as string[]) : null,
    breaker: JSON.parse(r.breaker) as Breaker,
    conflict: r.conflict ? (JSON.parse(r.conflict) as RunnerConflict) : null,
  };
}

/**
 * Runners of one pool and their breakers. The table is small and read on every scan and runner message, so the
 * store keeps the parsed records in memory and writes through: every change goes to SQLite and to the cached
 * record in the same call. Records handed out are the cached ones: change them only through this store.
 */
export class RunnerStore {
  #sql: SqlStorage;
  #cache: Map<string, RunnerRecord> | undefined;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
  }

  #all(): Map<string, RunnerRecord> {
    this.#cache ??= new Map(
      this.#sql
        .exec<Row>('SELECT * FROM runners ORDER BY name')
        .toArray()
        .map((r) => [r.id, toRecord(r)]),
    );
    return this.#cache;
  }

  get(id: string): RunnerRecord | undefined {
    return this.#all().get(id);
  }

  /** By id or by name. */
  find(idOrName: string): RunnerRecord | undefined {
    return this.#all().get(idOrName) ?? [...this.#all().values()].find((r) => r.name === idOrName);
  }

  /** Sorted by name. */
  list(): RunnerRecord[] {
    return [...this.#all().values()];
  }

  insert(id: string, name: string, granted: readonly string[], breaker: Breaker, now: number): void {
    this.#sql.exec(
      'INSERT INTO runners (id, name, created_at, granted, breaker) VALUES (?, ?, ?, ?, ?)',
      id,
      name,
      now,
      JSON.stringify(granted),
      JSON.stringify(breaker),
    );
    this.#cache = undefined; // re-read, to keep name order
  }

  connected(id: string, hello: Hello, now: number): void {
    this.#sql.exec(
      'UPDATE runners SET connected = 1, last_seen = ?, hello = ? WHERE id = ?',
      now,
      JSON.stringify(hello),
      id,
    );
    this.#patch(id, { connected: true, lastSeen: now, hello });
  }

  disconnected(id: string, now: number): void {
    this.#sql.exec('UPDATE runners SET connected = 0, last_seen = ? WHERE id = ?', now, id);
    this.#patch(id, { connected: false, lastSeen: now });
  }

  /** Notes traffic from a runner; written at most once a second, since every frame calls it. */
  seen(id: string, now: number): void {
    const record = this.get(id);
    if (record?.lastSeen && now - record.lastSeen < 1000) return;
    this.#sql.exec('UPDATE runners SET last_seen = ? WHERE id = ?', now, id);
    this.#patch(id, { lastSeen: now });
  }

  setBreaker(id: string, breaker: Breaker): void {
    this.#sql.exec('UPDATE runners SET breaker = ? WHERE id = ?', JSON.stringify(breaker), id);
    this.#patch(id, { breaker });
  }

  setConflict(id: string, conflict: RunnerConflict | null): void {
    this.#sql.exec('UPDATE runners SET conflict = ? WHERE id = ?', conflict && JSON.stringify(conflict), id);
    this.#patch(id, { conflict });
  }

  revoke(id: string, now: number): void {
    this.#sql.exec('UPDATE runners SET revoked_at = ?, connected = 0 WHERE id = ?', now, id);
    this.#patch(id, { revokedAt: now, connected: false });
  }

  /** Drops the cached records (after storage was edited behind the store's back). */
  forget(): void {
    this.#cache = undefined;
  }

  #patch(id: string, fields: Partial<RunnerRecord>): void {
    const record = this.#cache?.get(id);
    if (record) Object.assign(record, fields);
  }
}
