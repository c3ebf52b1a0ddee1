/**
 * What `scangate diff` and `scangate inventory` print. Pure. Banners, products, versions and script output come
 * from the scanned network: every cell goes through table()/safeText, so a hostile service cannot steer a terminal.
 */
import type { ScanDiff } from '../../worker/domain/diff/index.ts';
import type { InventoryService } from '../../worker/storage/inventory.store.ts';
import { safeText, table } from './render.ts';

export interface DiffAnswer {
  head: { id: string; finishedAt: string | null };
  base: { id: string; finishedAt: string | null } | null;
  diff: ScanDiff | null;
  summary: string;
}

const product = (s: { name: string | null; product: string | null; version: string | null }) =>
  [s.product ?? s.name ?? '?', s.version].filter(Boolean).join(' ');

export function formatDiff(answer: DiffAnswer): string {
  const { diff, base, head } = answer;
  if (!diff || !base) return `${head.id}: ${answer.summary}`;
  const rows: string[][] = [];
  const where = (c: { host: string; port?: number; protocol?: string }) =>
    c.port === undefined ? c.host : `${c.host} ${c.port}/${c.protocol}`;
  for (const h of diff.hosts.up) rows.push(['new host', h.host, `up; open ${h.openPorts.join(', ') || 'none'}`]);
  for (const h of diff.hosts.down) rows.push(['host gone', h.host, `was open ${h.openPorts.join(', ') || 'none'}`]);
  for (const p of diff.ports.opened) rows.push(['opened', where(p), `${p.from} → open`]);
  for (const p of diff.ports.closed) rows.push(['closed', where(p), `open → ${p.to}`]);
  for (const s of diff.services) rows.push(['service', where(s), `${product(s.from)} → ${product(s.to)}`]);
  for (const c of diff.certificates) {
    rows.push([
      'certificate',
      where(c),
      `${c.fields.join(', ')} changed; now ${c.to.subject ?? '?'}, expires ${c.to.notAfter ?? '?'}`,
    ]);
  }
  for (const s of diff.scripts) rows.push(['script', where(s), `${s.id} output changed`]);
  for (const p of diff.ports.changed) rows.push(['state', where(p), `${p.from} → ${p.to}`]);
  const quiet = [
    diff.hosts.notChecked.length + diff.ports.notChecked.length
      ? `not checked (the newer scan did not probe them): ${[...diff.hosts.notChecked.map((h) => h.host), ...diff.ports.notChecked.map(where)].join(', ')}`
      : null,
    diff.ports.udpFlapping.length
      ? `UDP open|filtered flapping (no answer either way, often not a change): ${diff.ports.udpFlapping.map(where).join(', ')}`
      : null,
  ].filter((l): l is string => l !== null);
  return [
    `${head.id} (finished ${head.finishedAt ?? '?'}) compared with ${base.id} (finished ${base.finishedAt ?? '?'})`,
    safeText(answer.summary),
    ...(rows.length ? ['', table(['change', 'where', 'what'], rows)] : []),
    ...(quiet.length ? ['', ...quiet.map((l) => safeText(l))] : []),
  ].join('\n');
}

export function formatInventory(services: InventoryService[], nextCursor: string | null): string {
  if (services.length === 0) return 'nothing found: the inventory holds what your finished scans saw open';
  const rows = services.map((s) => [
    s.address,
    `${s.port}/${s.protocol}`,
    s.state,
    [s.service, s.product, s.version].filter(Boolean).join(' '),
    s.firstSeen.slice(0, 16).replace('T', ' '),
    s.lastSeen.slice(0, 16).replace('T', ' '),
  ]);
  return [
    table(['host', 'port', 'state', 'service', 'first seen', 'last seen'], rows),
    ...(nextCursor ? [`more: add --cursor ${nextCursor}`] : []),
  ].join('\n');
}
