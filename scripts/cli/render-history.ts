/**
 * What `scangate diff` and `scangate inventory` print. Pure. Banners, products, versions and script output come
 * from the scanned network: every cell goes through table()/safeText, so a hostile service cannot steer a terminal.
 */
import { diffRows, flappingPlaces, notCheckedPlaces, type ScanDiff } from '../../worker/domain/diff/index.ts';
import type { InventoryService } from '../../worker/storage/inventory.store.ts';
import { safeText, table } from './render.ts';

export interface DiffAnswer {
  head: { id: string; finishedAt: string | null };
  base: { id: string; finishedAt: string | null } | null;
  diff: ScanDiff | null;
  summary: string;
}

export function formatDiff(answer: DiffAnswer): string {
  const { diff, base, head } = answer;
  if (!diff || !base) return `${head.id}: ${answer.summary}`;
  const rows = diffRows(diff).map((r) => [r.kind, r.where, r.what]);
  const notChecked = notCheckedPlaces(diff);
  const flapping = flappingPlaces(diff);
  const quiet = [
    notChecked.length ? `not checked (the newer scan did not probe them): ${notChecked.join(', ')}` : null,
    flapping.length
      ? `UDP open|filtered flapping (no answer either way, often not a change): ${flapping.join(', ')}`
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
