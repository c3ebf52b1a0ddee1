import type { ScanDiff } from './scan-diff.ts';

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
