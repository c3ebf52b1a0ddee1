import type { ScanDiff, ServiceFacts } from './scan-diff.ts';

/**
 * A diff as rows a person reads, the one wording of every surface (dashboard, CLI, MCP): each change as kind,
 * where and what, loud changes first; and apart, the places not checked and the UDP ports flapping. Pure. Banners
 * and versions stay as they came: each surface escapes them for its medium.
 */
export interface DiffRow {
  kind: 'new host' | 'host gone' | 'opened' | 'closed' | 'service' | 'certificate' | 'script' | 'state';
  where: string;
  what: string;
}

const placeOf = (c: { host: string; port?: number; protocol?: string }) =>
  c.port === undefined ? c.host : `${c.host} ${c.port}/${c.protocol}`;

export const serviceText = (s: ServiceFacts) => [s.product ?? s.name ?? '?', s.version].filter(Boolean).join(' ');

export function diffRows(diff: ScanDiff): DiffRow[] {
  const ports = (list: string[]) => list.join(', ') || 'none';
  return [
    ...diff.hosts.up.map((h): DiffRow => ({ kind: 'new host', where: h.host, what: `open: ${ports(h.openPorts)}` })),
    ...diff.hosts.down.map(
      (h): DiffRow => ({ kind: 'host gone', where: h.host, what: `was open: ${ports(h.openPorts)}` }),
    ),
    ...diff.ports.opened.map((p): DiffRow => ({ kind: 'opened', where: placeOf(p), what: `${p.from} → open` })),
    ...diff.ports.closed.map((p): DiffRow => ({ kind: 'closed', where: placeOf(p), what: `open → ${p.to}` })),
    ...diff.services.map(
      (s): DiffRow => ({ kind: 'service', where: placeOf(s), what: `${serviceText(s.from)} → ${serviceText(s.to)}` }),
    ),
    ...diff.certificates.map(
      (c): DiffRow => ({
        kind: 'certificate',
        where: placeOf(c),
        what: `${c.fields.join(', ')} changed; now ${c.to.subject ?? '?'}, expires ${c.to.notAfter ?? '?'}`,
      }),
    ),
    ...diff.scripts.map((s): DiffRow => ({ kind: 'script', where: placeOf(s), what: `${s.id} output changed` })),
    ...diff.ports.changed.map((p): DiffRow => ({ kind: 'state', where: placeOf(p), what: `${p.from} → ${p.to}` })),
  ];
}

/** Hosts and ports open before that the newer scan did not probe or look for. */
export const notCheckedPlaces = (diff: ScanDiff): string[] => [
  ...diff.hosts.notChecked.map((h) => h.host),
  ...diff.ports.notChecked.map(placeOf),
];

/** UDP ports that went to or from open|filtered. */
export const flappingPlaces = (diff: ScanDiff): string[] => diff.ports.udpFlapping.map(placeOf);
