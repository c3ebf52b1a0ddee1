import type { ScanChanges } from '../../../shared/scan/index.ts';
import { diffIsQuiet, type ScanDiff } from './scan-diff.ts';

/**
 * One line saying what changed, for an agent's result text and the CLI ("Since scan_…: 1 new host, 2 ports
 * opened, 1 version changed; 3 not checked"). Pure. Quiet categories (flapping UDP) are counted only when nothing
 * louder happened.
 */
function count(n: number, one: string, many = `${one}s`): string | null {
  return n === 0 ? null : `${n} ${n === 1 ? one : many}`;
}

export function diffSummary(diff: ScanDiff): string {
  const loud = [
    count(diff.hosts.up.length, 'new host'),
    count(diff.hosts.down.length, 'host gone', 'hosts gone'),
    count(diff.ports.opened.length, 'port opened', 'ports opened'),
    count(diff.ports.closed.length, 'port closed', 'ports closed'),
    count(diff.services.length, 'service changed', 'services changed'),
    count(diff.certificates.length, 'certificate changed', 'certificates changed'),
    count(diff.scripts.length, 'script result changed', 'script results changed'),
    count(diff.ports.changed.length, 'other state change', 'other state changes'),
  ].filter(Boolean);
  const notChecked = diff.hosts.notChecked.length + diff.ports.notChecked.length;
  const quiet = [
    notChecked ? `${notChecked} not checked this time` : null,
    loud.length === 0 ? count(diff.ports.udpFlapping.length, 'UDP port flapping', 'UDP ports flapping') : null,
  ].filter(Boolean);
  const head = loud.length ? loud.join(', ') : 'no changes';
  return `Since ${diff.base}: ${head}${quiet.length ? `; ${quiet.join('; ')}` : ''}.`;
}

/** The counts and one line a scan keeps of its diff with the previous scan (Scan.changes). */
export function scanChanges(diff: ScanDiff): ScanChanges {
  return {
    since: diff.base,
    summary: diffSummary(diff),
    quiet: diffIsQuiet(diff),
    counts: {
      newHosts: diff.hosts.up.length,
      hostsGone: diff.hosts.down.length,
      opened: diff.ports.opened.length,
      closed: diff.ports.closed.length,
      services: diff.services.length,
      certificates: diff.certificates.length,
      scripts: diff.scripts.length,
      notChecked: diff.hosts.notChecked.length + diff.ports.notChecked.length,
    },
  };
}
