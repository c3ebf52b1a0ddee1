import { addressKey, cidrKeyRange } from '../domain/inventory.ts';

/** The inventory's hosts (inventory_hosts, migration 7), read by address or CIDR; written by inventory.store.ts. */
export interface InventoryHost {
  address: string;
  hostnames: string[];
  /** `up` when last looked for, `down` when a later scan looked for it (discovery on) and did not find it. */
  state: string;
  firstSeen: string;
  lastSeen: string;
  lastScan: string;
  lastProbedAt: string;
  lastProbedScan: string;
}

export interface InventoryHostQuery {
  tokenId?: string;
  address?: string;
  cidr?: string;
  state?: 'up' | 'any';
  firstSeenAfter?: number;
  limit: number;
  cursor?: string;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** Hosts matching `q`, by address; an admin's view merges tokens (newest row per address, first seen earliest). */
export function queryHosts(
  sql: SqlStorage,
  q: InventoryHostQuery,
): { hosts: InventoryHost[]; nextCursor: string | null } {
  const where: string[] = [];
  const args: SqlStorageValue[] = [];
  const add = (clause: string, ...values: SqlStorageValue[]) => {
    where.push(clause);
    args.push(...values);
  };
  if (q.tokenId) add('token_id = ?', q.tokenId);
  if (q.address) add('addr_key = ?', addressKey(q.address) ?? '');
  if (q.cidr) add('addr_key BETWEEN ? AND ?', ...(cidrKeyRange(q.cidr) ?? ['', '']));
  if (q.cursor) add('addr_key > ?', q.cursor);
  const outer = ['rn = 1'];
  const outerArgs: SqlStorageValue[] = [];
  if ((q.state ?? 'up') === 'up') outer.push("state = 'up'");
  if (q.firstSeenAfter !== undefined) {
    outer.push('first_any > ?');
    outerArgs.push(q.firstSeenAfter);
  }
  const rows = sql
    .exec<{
      addr_key: string;
      address: string;
      hostnames: string;
      state: string;
      first_any: number;
      last_seen: number;
      last_scan: string;
      last_probed_at: number;
      last_probed_scan: string;
    }>(
      `SELECT * FROM (
         SELECT *, ROW_NUMBER() OVER (PARTITION BY addr_key ORDER BY last_seen DESC) AS rn,
           MIN(first_seen) OVER (PARTITION BY addr_key) AS first_any
         FROM inventory_hosts ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ) WHERE ${outer.join(' AND ')} ORDER BY addr_key LIMIT ?`,
      ...args,
      ...outerArgs,
      q.limit + 1,
    )
    .toArray();
  const page = rows.slice(0, q.limit);
  return {
    hosts: page.map((r) => ({
      address: r.address,
      hostnames: JSON.parse(r.hostnames) as string[],
      state: r.state,
      firstSeen: iso(r.first_any),
      lastSeen: iso(r.last_seen),
      lastScan: r.last_scan,
      lastProbedAt: iso(r.last_probed_at),
      lastProbedScan: r.last_probed_scan,
    })),
    nextCursor: rows.length > q.limit ? page.at(-1)!.addr_key : null,
  };
}
