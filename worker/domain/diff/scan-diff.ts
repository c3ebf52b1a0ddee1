import type { Port, ScriptResult } from '../../../shared/nmap-xml/index.ts';
import { type CertificateFacts, certificateFacts } from './certificate.ts';
import { type Coverage, coverageOf, type HostView, portKey, type Protocol, type ScanSide } from './coverage.ts';

/**
 * What changed between two finished scans of the same network. Pure and coverage-aware: something is closed or gone
 * only if the newer scan (`head`) probed it the same way (same protocol, a port set that includes it, host discovery
 * that would have seen the host); otherwise it is `notChecked`. Its mirror, open in `head` where `base` never
 * looked, is `newlyChecked`, so swapping the scans swaps opened with closed, up with down and notChecked with
 * newlyChecked. UDP's `open|filtered` (no answer, which is also what a dropped probe looks like) coming or going is
 * `udpFlapping`, apart from the changes a person should read.
 *
 * MUST hold (worker/domain/diff/scan-diff.test.ts): a scan diffed with itself is empty; swapping swaps the
 * categories as above; nothing is closed or down that head did not probe or look for.
 */

export interface PortChange {
  host: string;
  port: number;
  protocol: Protocol;
  /** The state in base and in head; `not-checked` where that scan did not probe it. */
  from: string;
  to: string;
}

export interface ServiceFacts {
  name: string | null;
  product: string | null;
  version: string | null;
}

export interface ServiceChange {
  host: string;
  port: number;
  protocol: Protocol;
  from: ServiceFacts;
  to: ServiceFacts;
}

export interface CertificateChange {
  host: string;
  port: number;
  protocol: Protocol;
  /** Which of subject, issuer, notAfter and sha1 differ. */
  fields: Array<keyof CertificateFacts>;
  from: CertificateFacts;
  to: CertificateFacts;
}

export interface ScriptChange {
  host: string;
  /** Absent for a host script. */
  port?: number;
  protocol?: Protocol;
  id: string;
  from: string;
  to: string;
}

export interface HostChange {
  host: string;
  hostnames: string[];
  /** Open ports on the side where the host was seen, as `22/tcp`. */
  openPorts: string[];
}

export interface ScanDiff {
  base: string;
  head: string;
  hosts: { up: HostChange[]; down: HostChange[]; notChecked: HostChange[]; newlyChecked: HostChange[] };
  ports: {
    opened: PortChange[];
    closed: PortChange[];
    /** Between two states that are not open (closed → filtered): listed, rarely news. */
    changed: PortChange[];
    notChecked: PortChange[];
    newlyChecked: PortChange[];
    udpFlapping: PortChange[];
  };
  services: ServiceChange[];
  certificates: CertificateChange[];
  scripts: ScriptChange[];
}

/**
 * Scripts whose output is a clock reading: it differs on every run and says nothing about the service (the diff
 * ignores them, and the inventory does not keep them as findings).
 */
export const CLOCK_SCRIPTS: ReadonlySet<string> = new Set([
  'ssl-date',
  'http-date',
  'clock-skew',
  'smb2-time',
  'ntp-info',
]);
/** Lines that are a clock reading inside otherwise stable output (the *-ntlm-info scripts). */
const VOLATILE_LINE = /^\s*System_Time:.*$/gm;
const CERTIFICATE_FIELDS = ['subject', 'issuer', 'notAfter', 'sha1'] as const;

const isOpen = (state: string | null) => state === 'open';
const NOT_CHECKED = 'not-checked';

function serviceFacts(port: Port): ServiceFacts {
  return {
    name: port.service?.name ?? null,
    product: port.service?.product ?? null,
    version: port.service?.version ?? null,
  };
}

function openPortsOf(host: HostView): string[] {
  return [...host.ports.values()].filter((p) => p.state === 'open').map((p) => portKey(p.protocol, p.port));
}

function stableOutput(script: ScriptResult): string {
  return script.output.replace(VOLATILE_LINE, '').trim();
}

/** Script output changes for scripts that ran in both scans (a script run in one only was not compared). */
function scriptChanges(
  host: string,
  before: readonly ScriptResult[],
  after: readonly ScriptResult[],
  where: { port?: number; protocol?: Protocol },
): ScriptChange[] {
  const byId = new Map(after.map((s) => [s.id, s]));
  const changes: ScriptChange[] = [];
  for (const old of before) {
    const now = byId.get(old.id);
    if (!now || old.id === 'ssl-cert' || CLOCK_SCRIPTS.has(old.id)) continue;
    if (stableOutput(old) !== stableOutput(now))
      changes.push({ host, ...where, id: old.id, from: old.output, to: now.output });
  }
  return changes;
}

function certificateChange(host: string, before: Port, after: Port): CertificateChange | null {
  const a = before.scripts.find((s) => s.id === 'ssl-cert');
  const b = after.scripts.find((s) => s.id === 'ssl-cert');
  const from = a && certificateFacts(a.output);
  const to = b && certificateFacts(b.output);
  if (!from || !to) return null;
  const fields = CERTIFICATE_FIELDS.filter((f) => from[f] !== to[f]);
  return fields.length ? { host, port: before.port, protocol: before.protocol, fields, from, to } : null;
}

function emptyDiff(base: string, head: string): ScanDiff {
  return {
    base,
    head,
    hosts: { up: [], down: [], notChecked: [], newlyChecked: [] },
    ports: { opened: [], closed: [], changed: [], notChecked: [], newlyChecked: [], udpFlapping: [] },
    services: [],
    certificates: [],
    scripts: [],
  };
}

/** Port-level changes on a host present in both scans. */
function comparePorts(diff: ScanDiff, key: string, a: HostView, b: HostView, ca: Coverage, cb: Coverage): void {
  const seen = new Set<string>([...a.ports.keys(), ...b.ports.keys()]);
  for (const id of seen) {
    const sample = (a.ports.get(id) ?? b.ports.get(id))!;
    const { port, protocol } = sample;
    const from = ca.stateOf(a, protocol, port);
    const to = cb.stateOf(b, protocol, port);
    if (from === to) continue;
    const change = { host: key, port, protocol, from: from ?? NOT_CHECKED, to: to ?? NOT_CHECKED };
    if (from === null || to === null) {
      if (isOpen(from)) diff.ports.notChecked.push(change);
      else if (isOpen(to)) diff.ports.newlyChecked.push(change);
    } else if (protocol === 'udp' && (from === 'open|filtered' || to === 'open|filtered')) {
      diff.ports.udpFlapping.push(change);
    } else if (isOpen(to)) {
      diff.ports.opened.push(change);
    } else if (isOpen(from)) {
      diff.ports.closed.push(change);
    } else {
      diff.ports.changed.push(change);
    }
  }
  for (const [id, before] of a.ports) {
    const after = b.ports.get(id);
    if (!after || before.state !== 'open' || after.state !== 'open') continue;
    const [fa, fb] = [serviceFacts(before), serviceFacts(after)];
    if (fa.name !== fb.name || fa.product !== fb.product || fa.version !== fb.version) {
      diff.services.push({ host: key, port: before.port, protocol: before.protocol, from: fa, to: fb });
    }
    const cert = certificateChange(key, before, after);
    if (cert) diff.certificates.push(cert);
    diff.scripts.push(
      ...scriptChanges(key, before.scripts, after.scripts, { port: before.port, protocol: before.protocol }),
    );
  }
  diff.scripts.push(...scriptChanges(key, a.hostScripts, b.hostScripts, {}));
}

/** The changes from `base` (older) to `head` (newer). */
export function diffScans(base: ScanSide, head: ScanSide): ScanDiff {
  const diff = emptyDiff(base.scanId, head.scanId);
  const ca = coverageOf(base);
  const cb = coverageOf(head);
  const keys = new Set<string>([...ca.hosts.keys(), ...cb.hosts.keys()]);
  for (const key of [...keys].sort()) {
    const a = ca.hosts.get(key);
    const b = cb.hosts.get(key);
    if (a?.present && b?.present) {
      comparePorts(diff, key, a, b, ca, cb);
      continue;
    }
    if (a?.present) {
      // Gone only if head was asked to scan it and looked for it (host discovery on).
      const looked = cb.discovery && cb.covers(key, a.hostnames);
      const entry = { host: key, hostnames: a.hostnames, openPorts: openPortsOf(a) };
      (looked ? diff.hosts.down : diff.hosts.notChecked).push(entry);
    } else if (b?.present) {
      const looked = ca.discovery && ca.covers(key, b.hostnames);
      const entry = { host: key, hostnames: b.hostnames, openPorts: openPortsOf(b) };
      (looked ? diff.hosts.up : diff.hosts.newlyChecked).push(entry);
    }
  }
  return diff;
}

/** Whether nothing changed (not-checked and flapping entries count as nothing to report). */
export function diffIsQuiet(diff: ScanDiff): boolean {
  return (
    diff.hosts.up.length +
      diff.hosts.down.length +
      diff.ports.opened.length +
      diff.ports.closed.length +
      diff.ports.changed.length +
      diff.services.length +
      diff.certificates.length +
      diff.scripts.length ===
    0
  );
}

/** Every list empty, quiet categories included. */
export function diffIsEmpty(diff: ScanDiff): boolean {
  return (
    diffIsQuiet(diff) &&
    diff.hosts.notChecked.length +
      diff.hosts.newlyChecked.length +
      diff.ports.notChecked.length +
      diff.ports.newlyChecked.length +
      diff.ports.udpFlapping.length ===
      0
  );
}
