import ipaddr from 'ipaddr.js';
import { CLOCK_SCRIPTS, coverageOf, type ScanSide } from './diff/index.ts';

/**
 * What one finished scan adds to its pool's inventory of hosts and services. Pure: the store applies it
 * (worker/storage/inventory.store.ts). A service is a port seen open; once known, a later scan that probed it the
 * same way updates its state (closed, filtered) and "last probed", so "gone" is never claimed on a scan that did not
 * look (the same coverage rule as the diff).
 */

/** Script results kept per service: the first few, each cut short; clock readings are not findings. */
export const NOTABLE_SCRIPTS = 6;
export const NOTABLE_OUTPUT_CHARS = 300;

export interface ObservedService {
  address: string;
  protocol: string;
  port: number;
  service: string | null;
  product: string | null;
  version: string | null;
  cpe: string[];
  scripts: Array<{ id: string; output: string }>;
}

export interface Observation {
  /** Hosts up (not merely -Pn "up"), with the names the runner resolved. */
  hosts: Array<{ address: string; hostnames: string[] }>;
  open: ObservedService[];
  /** Whether the scan probed protocol/port on a host it found up: known services there not open now changed state. */
  stateIfProbed(address: string, protocol: string, port: number): string | null;
  /**
   * Address-key ranges the scan looked for hosts in (its address and CIDR targets, with host discovery on): a
   * known host in them that is not among `hosts` was looked for and not found. Empty under -Pn.
   */
  lookedIn: Array<[string, string]>;
}

export function observe(side: ScanSide): Observation {
  const coverage = coverageOf(side);
  const present = [...coverage.hosts.values()].filter((h) => h.present && addressKey(h.key) !== null);
  return {
    hosts: present.map((h) => ({ address: h.key, hostnames: h.hostnames })),
    open: present.flatMap((h) =>
      [...h.ports.values()]
        .filter((p) => p.state === 'open')
        .map((p) => ({
          address: h.key,
          protocol: p.protocol,
          port: p.port,
          service: p.service?.name ?? null,
          product: p.service?.product ?? null,
          version: p.service?.version ?? null,
          cpe: p.cpe.slice(0, 8),
          scripts: p.scripts
            .filter((s) => !CLOCK_SCRIPTS.has(s.id))
            .slice(0, NOTABLE_SCRIPTS)
            .map((s) => ({ id: s.id, output: s.output.slice(0, NOTABLE_OUTPUT_CHARS) })),
        })),
    ),
    lookedIn: coverage.discovery
      ? side.targets.flatMap((t) => {
          const range = t.includes('/') ? cidrKeyRange(t) : addressKey(t) && [addressKey(t)!, addressKey(t)!];
          return range ? [range as [string, string]] : [];
        })
      : [],
    stateIfProbed(address, protocol, port) {
      const host = coverage.hosts.get(address);
      if (!host?.present) return null;
      return coverage.stateOf(host, protocol as 'tcp', port);
    },
  };
}

/**
 * An address as a string that sorts like the address: `4` + 8 hex digits, or `6` + 32. A CIDR is then a range of
 * keys (cidrKeyRange), so "hosts in 10.1.0.0/16" is one indexed range query. Null for anything not an IP.
 */
export function addressKey(text: string): string | null {
  try {
    if (!ipaddr.isValid(text)) return null;
    const address = ipaddr.process(text);
    const hex = address
      .toByteArray()
      .map((b) => b.toString(16).padStart(2, '0'))
      .join('');
    return `${address.kind() === 'ipv4' ? '4' : '6'}${hex}`;
  } catch {
    return null;
  }
}

/** The first and last address keys of a CIDR, or null when it is not one. */
export function cidrKeyRange(cidr: string): [string, string] | null {
  try {
    const [base, prefix] = ipaddr.parseCIDR(cidr);
    const bytes = base.toByteArray();
    const first = [...bytes];
    const last = [...bytes];
    for (let bit = prefix; bit < bytes.length * 8; bit++) {
      const i = bit >> 3;
      const mask = 0x80 >> (bit & 7);
      first[i]! &= ~mask;
      last[i]! |= mask;
    }
    const key = (b: number[]) =>
      `${base.kind() === 'ipv4' ? '4' : '6'}${b.map((x) => x.toString(16).padStart(2, '0')).join('')}`;
    return [key(first), key(last)];
  } catch {
    return null;
  }
}

/**
 * Whether a version string is older than `bound` ("8.9p1 Ubuntu 3" < "9.0"): the leading dotted numbers compared
 * one by one. A version with no leading number is not comparable (false), so a filter never guesses.
 */
export function versionOlderThan(version: string | null, bound: string): boolean {
  const numbers = (v: string) => /^\s*v?(\d+(?:\.\d+)*)/.exec(v)?.[1]?.split('.').map(Number) ?? null;
  const a = version ? numbers(version) : null;
  const b = numbers(bound);
  if (!a || !b) return false;
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const [x, y] = [a[i] ?? 0, b[i] ?? 0];
    if (x !== y) return x < y;
  }
  return false;
}
