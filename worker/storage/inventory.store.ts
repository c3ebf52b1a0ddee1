import { addressKey, cidrKeyRange, type Observation, versionOlderThan } from '../domain/inventory.ts';
import { type InventoryHost, type InventoryHostQuery, queryHosts } from './inventory-hosts.ts';

export type { InventoryHost, InventoryHostQuery } from './inventory-hosts.ts';

/**
 * The pool's inventory of hosts and services in the Coordinator's SQLite storage (migration 7). Rows are per token,
 * so a scan token reads only what its own scans saw; an admin's read merges tokens (newest row per service, first
 * seen the earliest). Bounded: rows unseen for the retention (INVENTORY_RETENTION_DAYS, 180) are pruned by the
 * alarm, and past INVENTORY_MAX_ROWS the least recently seen go first.
 */

export interface InventoryService {
  address: string;
  protocol: string;
  port: number;
  /** `open` when last probed, else what the last scan that probed it saw (closed, filtered). */
  state: string;
  service: string | null;
  product: string | null;
  version: string | null;
  cpe: string[];
  scripts: Array<{ id: string; output: string }>;
  firstSeen: string;
  lastSeen: string;
  lastScan: string;
  lastProbedAt: string;
  lastProbedScan: string;
}

export interface InventoryQuery {
  /** A scan token's own rows; absent for an admin (every token's, merged). */
  tokenId?: string;
  address?: string;
  cidr?: string;
  port?: number;
  protocol?: string;
  /** nmap's service name (`ssh`, `http`), exact. */
  service?: string;
  /** Part of the product name, case-insensitive (`openssh`). */
  product?: string;
  /** Only versions whose leading numbers are older than this (`8.0`). */
  versionBelow?: string;
  /** `open` (default): open when last probed; `any`: also those since seen closed or filtered. */
  state?: 'open' | 'any';
  firstSeenAfter?: number;
  limit: number;
  cursor?: string;
}

type ServiceRow = {
  addr_key: string;
  address: string;
  protocol: string;
  port: number;
  state: string;
  service: string | null;
  product: string | null;
  version: string | null;
  cpe: string;
  scripts: string;
  first_seen: number;
  last_seen: number;
  last_scan: string;
  last_probed_at: number;
  last_probed_scan: string;
};

const iso = (ms: number) => new Date(ms).toISOString();

function toService(row: ServiceRow): InventoryService {
  return {
    address: row.address,
    protocol: row.protocol,
    port: row.port,
    state: row.state,
    service: row.service,
    product: row.product,
    version: row.version,
    cpe: JSON.parse(row.cpe) as string[],
    scripts: JSON.parse(row.scripts) as InventoryService['scripts'],
    firstSeen: iso(row.first_seen),
    lastSeen: iso(row.last_seen),
    lastScan: row.last_scan,
    lastProbedAt: iso(row.last_probed_at),
    lastProbedScan: row.last_probed_scan,
  };
}

/** Rows read per SQL page while a JS-side filter (versionBelow) thins them; bounded so one query stays cheap. */
const SCAN_PAGE = 500;
const MAX_SCAN_PAGES = 20;

export class InventoryStore {
  #sql: SqlStorage;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
  }

  /** Applies what one finished scan of `tokenId` observed. */
  record(tokenId: string, scanId: string, now: number, seen: Observation): void {
    const sql = this.#sql;
    for (const host of seen.hosts) {
      const key = addressKey(host.address)!;
      sql.exec(
        `INSERT INTO inventory_hosts VALUES (?, ?, ?, ?, 'up', ?, ?, ?, ?, ?)
         ON CONFLICT (token_id, addr_key) DO UPDATE SET hostnames = excluded.hostnames, state = 'up',
           last_seen = excluded.last_seen, last_scan = excluded.last_scan, last_probed_at = excluded.last_probed_at,
           last_probed_scan = excluded.last_probed_scan`,
        tokenId,
        key,
        host.address,
        JSON.stringify(host.hostnames),
        now,
        now,
        scanId,
        now,
        scanId,
      );
      // Known services on this host that this scan probed and did not find open: their state is what it saw.
      const open = new Set(seen.open.filter((s) => s.address === host.address).map((s) => `${s.port}/${s.protocol}`));
      const known = sql
        .exec<{ protocol: string; port: number }>(
          'SELECT protocol, port FROM inventory_services WHERE token_id = ? AND addr_key = ?',
          tokenId,
          key,
        )
        .toArray();
      for (const { protocol, port } of known) {
        if (open.has(`${port}/${protocol}`)) continue;
        const state = seen.stateIfProbed(host.address, protocol, port);
        if (state === null) continue;
        sql.exec(
          `UPDATE inventory_services SET state = ?, last_probed_at = ?, last_probed_scan = ?
           WHERE token_id = ? AND addr_key = ? AND protocol = ? AND port = ?`,
          state,
          now,
          scanId,
          tokenId,
          key,
          protocol,
          port,
        );
      }
    }
    // Known hosts the scan looked for (its targets, discovery on) and did not find: down, as of this scan.
    const up = new Set(seen.hosts.map((h) => addressKey(h.address)));
    for (const [lo, hi] of seen.lookedIn) {
      const known = sql
        .exec<{ addr_key: string }>(
          "SELECT addr_key FROM inventory_hosts WHERE token_id = ? AND addr_key BETWEEN ? AND ? AND state = 'up'",
          tokenId,
          lo,
          hi,
        )
        .toArray();
      for (const { addr_key } of known) {
        if (up.has(addr_key)) continue;
        sql.exec(
          `UPDATE inventory_hosts SET state = 'down', last_probed_at = ?, last_probed_scan = ? WHERE token_id = ? AND addr_key = ?`,
          now,
          scanId,
          tokenId,
          addr_key,
        );
      }
    }
    for (const s of seen.open) {
      sql.exec(
        `INSERT INTO inventory_services VALUES (?, ?, ?, ?, ?, 'open', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (token_id, addr_key, protocol, port) DO UPDATE SET state = 'open', service = excluded.service,
           product = excluded.product, version = excluded.version, cpe = excluded.cpe, scripts = excluded.scripts,
           last_seen = excluded.last_seen, last_scan = excluded.last_scan, last_probed_at = excluded.last_probed_at,
           last_probed_scan = excluded.last_probed_scan`,
        tokenId,
        addressKey(s.address)!,
        s.address,
        s.protocol,
        s.port,
        s.service,
        s.product,
        s.version,
        JSON.stringify(s.cpe),
        JSON.stringify(s.scripts),
        now,
        now,
        scanId,
        now,
        scanId,
      );
    }
  }

  /** Services matching `q`, ordered by address, protocol and port; `nextCursor` continues after the last. */
  services(q: InventoryQuery): { services: InventoryService[]; nextCursor: string | null } {
    const where: string[] = [];
    const args: SqlStorageValue[] = [];
    const add = (clause: string, ...values: SqlStorageValue[]) => {
      where.push(clause);
      args.push(...values);
    };
    if (q.tokenId) add('token_id = ?', q.tokenId);
    if (q.address) add('addr_key = ?', addressKey(q.address) ?? '');
    if (q.cidr) {
      const [lo, hi] = cidrKeyRange(q.cidr) ?? ['', ''];
      add('addr_key BETWEEN ? AND ?', lo, hi);
    }
    if (q.port !== undefined) add('port = ?', q.port);
    if (q.protocol) add('protocol = ?', q.protocol);
    if (q.service) add('service = ?', q.service.toLowerCase());
    if (q.product) add(`product LIKE ? ESCAPE '\\'`, `%${q.product.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
    const outer: string[] = ['rn = 1'];
    const outerArgs: SqlStorageValue[] = [];
    if ((q.state ?? 'open') === 'open') outer.push("state = 'open'");
    if (q.firstSeenAfter !== undefined) {
      outer.push('first_any > ?');
      outerArgs.push(q.firstSeenAfter);
    }
    const found: InventoryService[] = [];
    let cursor = q.cursor ? q.cursor.split('|') : null;
    for (let page = 0; page < MAX_SCAN_PAGES && found.length < q.limit; page++) {
      const after = cursor ? ['(addr_key, protocol, port) > (?, ?, ?)'] : [];
      const afterArgs = cursor ? [cursor[0] ?? '', cursor[1] ?? '', Number(cursor[2] ?? 0)] : [];
      const inner = [...where, ...after];
      const rows = this.#sql
        .exec<ServiceRow & { rn: number; first_any: number }>(
          `SELECT * FROM (
             SELECT *, ROW_NUMBER() OVER (PARTITION BY addr_key, protocol, port ORDER BY last_seen DESC) AS rn,
               MIN(first_seen) OVER (PARTITION BY addr_key, protocol, port) AS first_any
             FROM inventory_services ${inner.length ? `WHERE ${inner.join(' AND ')}` : ''}
           ) WHERE ${outer.join(' AND ')} ORDER BY addr_key, protocol, port LIMIT ?`,
          ...args,
          ...afterArgs,
          ...outerArgs,
          SCAN_PAGE,
        )
        .toArray();
      for (const row of rows) {
        cursor = [row.addr_key, row.protocol, String(row.port)];
        if (q.versionBelow && !versionOlderThan(row.version, q.versionBelow)) continue;
        found.push({ ...toService(row), firstSeen: iso(row.first_any) });
        if (found.length === q.limit) break;
      }
      if (rows.length < SCAN_PAGE && found.length < q.limit) return { services: found, nextCursor: null };
    }
    return { services: found, nextCursor: cursor ? cursor.join('|') : null };
  }

  /** Hosts matching `q` (inventory-hosts.ts). */
  hosts(q: InventoryHostQuery): { hosts: InventoryHost[]; nextCursor: string | null } {
    return queryHosts(this.#sql, q);
  }

  /** When the least recently seen row was last seen (null when there is none), for the next prune. */
  oldestSeen(): number | null {
    return this.#sql
      .exec<{ t: number | null }>(
        'SELECT MIN(t) AS t FROM (SELECT MIN(last_seen) AS t FROM inventory_services UNION ALL SELECT MIN(last_seen) FROM inventory_hosts)',
      )
      .one().t;
  }

  /** Deletes up to `limit` rows unseen since `before`, then the least recently seen past `maxRows`. */
  prune(before: number, maxRows: number, limit: number): number {
    let deleted = 0;
    for (const table of ['inventory_services', 'inventory_hosts']) {
      deleted += this.#sql.exec(
        `DELETE FROM ${table} WHERE rowid IN (SELECT rowid FROM ${table} WHERE last_seen < ? ORDER BY last_seen LIMIT ?)`,
        before,
        limit,
      ).rowsWritten;
      const count = this.#sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table}`).one().n;
      if (count > maxRows) {
        deleted += this.#sql.exec(
          `DELETE FROM ${table} WHERE rowid IN (SELECT rowid FROM ${table} ORDER BY last_seen LIMIT ?)`,
          Math.min(count - maxRows, limit),
        ).rowsWritten;
      }
    }
    return deleted;
  }
}
