import ipaddr from 'ipaddr.js';
import type { Host, Port, Report } from '../../../shared/nmap-xml/index.ts';
import { type PortSet, parsePortList, portSetHas } from './port-set.ts';

/**
 * What one finished scan saw and what it could have seen. Pure. A diff asks it "was this port probed the same way?"
 * and "was this host looked for?", so that nothing is called closed or gone on the word of a scan that never looked.
 */

/** One side of a diff: a finished scan's id, the targets it was asked to scan, and its report. */
export interface ScanSide {
  scanId: string;
  targets: readonly string[];
  report: Report;
}

export type Protocol = Port['protocol'];

export interface HostView {
  /** The host's identity across scans: its first IP address, else its first name. */
  key: string;
  hostnames: string[];
  /** Up, and not only because -Pn said so: a -Pn host with no open or closed port is no evidence of a host. */
  present: boolean;
  ports: Map<string, Port>;
  /** The state of ports probed but not listed (nmap's `<extraports>`): one state, or `closed|filtered` when mixed. */
  unlisted: string | null;
  hostScripts: Host['hostScripts'];
}

export interface Coverage {
  hosts: Map<string, HostView>;
  /** Host discovery ran (no -Pn), so a targeted host that is not up was looked for and not found. */
  discovery: boolean;
  /** Per protocol, the ports nmap sent probes to; `null` when its list could not be read. */
  probes: Map<Protocol, PortSet | null>;
  covers(key: string, hostnames: readonly string[]): boolean;
  /** Whether this scan probed `protocol/port` on the host (a listed port was probed whatever the scaninfo says). */
  probed(host: HostView | undefined, protocol: Protocol, port: number): boolean;
  /** The port's state on a present host if it was probed, else null. */
  stateOf(host: HostView, protocol: Protocol, port: number): string | null;
}

export const portKey = (protocol: string, port: number) => `${port}/${protocol}`;

const DISCOVERY_OFF = /(?:^|\s)-P[n0N](?:\s|$)/;

function hostView(host: Host): HostView | null {
  const address = host.addresses.find((a) => a.type !== 'mac')?.addr;
  const key = address ?? host.hostnames[0]?.name;
  if (!key) return null;
  const ports = new Map(host.ports.map((p) => [portKey(p.protocol, p.port), p]));
  const states = new Set(host.extraPorts.map((e) => e.state));
  const seenSomething = host.ports.some((p) => p.state === 'open' || p.state === 'closed');
  return {
    key,
    hostnames: host.hostnames.map((h) => h.name.toLowerCase()),
    present: host.status === 'up' && (host.reason !== 'user-set' || seenSomething),
    ports,
    unlisted: states.size === 0 ? null : states.size === 1 ? [...states][0]! : 'closed|filtered',
    hostScripts: host.hostScripts,
  };
}

type Matcher = (address: ipaddr.IPv4 | ipaddr.IPv6 | null, hostnames: readonly string[]) => boolean;

function targetMatcher(target: string): Matcher {
  const text = target.trim().toLowerCase();
  try {
    if (text.includes('/')) {
      const [base, prefix] = ipaddr.parseCIDR(text);
      return (a) => a !== null && a.kind() === base.kind() && a.match(base as never, prefix);
    }
    if (ipaddr.isValid(text)) {
      const wanted = ipaddr.parse(text).toString();
      return (a) => a !== null && a.toString() === wanted;
    }
  } catch {
    return () => false;
  }
  return (_a, names) => names.includes(text);
}

function parseAddress(key: string): ipaddr.IPv4 | ipaddr.IPv6 | null {
  try {
    return ipaddr.isValid(key) ? ipaddr.parse(key) : null;
  } catch {
    return null;
  }
}

export function coverageOf(side: ScanSide): Coverage {
  const matchers = side.targets.map(targetMatcher);
  const covers = (key: string, hostnames: readonly string[]) => {
    const address = parseAddress(key);
    return matchers.some((m) => m(address, hostnames));
  };
  // The report comes from a runner, which may lie: a host outside the scan's own targets was not scanned by it, and
  // is left out (so a hostile runner cannot put other networks into the diff, the inventory or an alert).
  const hosts = new Map<string, HostView>();
  for (const host of side.report.hosts) {
    const view = hostView(host);
    if (view && !hosts.has(view.key) && covers(view.key, view.hostnames)) hosts.set(view.key, view);
  }
  const probes = new Map<Protocol, PortSet | null>();
  for (const probe of side.report.probes ?? []) {
    const set = probe.ports === null ? null : parsePortList(probe.ports);
    const known = probes.get(probe.protocol);
    // Two scan types on one protocol (-sS and -sA): a port counts as probed if either probed it.
    probes.set(probe.protocol, known && set ? [...known, ...set].sort((a, b) => a[0] - b[0]) : (set ?? known ?? null));
  }
  return {
    hosts,
    discovery: !DISCOVERY_OFF.test(side.report.scanner.args ?? ''),
    probes,
    covers,
    probed(host, protocol, port) {
      if (host?.ports.has(portKey(protocol, port))) return true;
      const set = probes.get(protocol);
      return set ? portSetHas(set, port) : false;
    },
    stateOf(host, protocol, port) {
      const listed = host.ports.get(portKey(protocol, port));
      if (listed) return listed.state;
      if (!this.probed(host, protocol, port)) return null;
      return host.unlisted ?? 'closed|filtered';
    },
  };
}
