import type { Hello } from '../../shared/protocol/index.ts';
import type { Breaker } from '../breaker.ts';

export interface RunnerRecord {
  id: string;
  name: string;
  createdAt: number;
  revokedAt: number | null;
  connected: boolean;
  lastSeen: number | null;
  /** What the runner declared in its last hello (version, nmap, privileged, networks, concurrency). */
  hello: Hello | null;
  breaker: Breaker;
}

type Row = { id: string; name: string; created_at: number; revoked_at: number | null; connected: number; last_seen: number | null; hello: string | null; breaker: string };

function toRecord(r: Row): RunnerRecord {
  return {
    id: r.id,
    name: r.name,
    createdAt: r.created_at,
    revokedAt: r.revoked_at,
    connected: r.connected === 1,
    lastSeen: r.last_seen,
    hello: r.hello ? (JSON.parse(r.hello) as Hello) : null,
    breaker: JSON.parse(r.breaker) as Breaker,
  };
}

/** Runners of one pool and their breakers. */
export class RunnerStore {
  #sql: SqlStorage;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
  }

  get(id: string): RunnerRecord | undefined {
    const row = this.#sql.exec<Row>('SELECT * FROM runners WHERE id = ?', id).toArray()[0];
    return row && toRecord(row);
  }

  /** By id or by name. */
  find(idOrName: string): RunnerRecord | undefined {
    const row = this.#sql.exec<Row>('SELECT * FROM runners WHERE id = ? OR name = ?', idOrName, idOrName).toArray()[0];
    return row && toRecord(row);
  }

  list(): RunnerRecord[] {
    return this.#sql.exec<Row>('SELECT * FROM runners ORDER BY name').toArray().map(toRecord);
  }

  insert(id: string, name: string, breaker: Breaker, now: number): void {
    this.#sql.exec('INSERT INTO runners (id, name, created_at, breaker) VALUES (?, ?, ?, ?)', id, name, now, JSON.stringify(breaker));
  }

  connected(id: string, hello: Hello, now: number): void {
    this.#sql.exec('UPDATE runners SET connected = 1, last_seen = ?, hello = ? WHERE id = ?', now, JSON.stringify(hello), id);
  }

  disconnected(id: string, now: number): void {
    this.#sql.exec('UPDATE runners SET connected = 0, last_seen = ? WHERE id = ?', now, id);
  }

  seen(id: string, now: number): void {
    this.#sql.exec('UPDATE runners SET last_seen = ? WHERE id = ?', now, id);
  }

  setBreaker(id: string, breaker: Breaker): void {
    this.#sql.exec('UPDATE runners SET breaker = ? WHERE id = ?', JSON.stringify(breaker), id);
  }

  revoke(id: string, now: number): void {
    this.#sql.exec('UPDATE runners SET revoked_at = ?, connected = 0 WHERE id = ?', now, id);
  }
}
