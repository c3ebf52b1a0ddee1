import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Host, Port, Report } from '../../../shared/nmap-xml/index.ts';
import { coverageOf, type ScanSide } from './coverage.ts';
import { diffIsEmpty, diffScans, type PortChange, type ScanDiff } from './scan-diff.ts';

/** Random scans of a few loopback hosts and ports, with random coverage: the rules must hold for any of them. */
const ADDRESSES = ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4'];
const STATES = { tcp: ['open', 'closed', 'filtered'], udp: ['open', 'closed', 'open|filtered'] } as const;

const portArb = fc.oneof(
  ...(['tcp', 'udp'] as const).map((protocol) =>
    fc.record({
      protocol: fc.constant(protocol),
      port: fc.integer({ min: 1, max: 12 }),
      state: fc.constantFrom(...STATES[protocol]),
      version: fc.constantFrom('7.4', '8.9', null),
    }),
  ),
);

const hostArb = fc.record({
  addr: fc.constantFrom(...ADDRESSES),
  status: fc.constantFrom('up', 'up', 'down') as fc.Arbitrary<Host['status']>,
  reason: fc.constantFrom('syn-ack', 'user-set'),
  ports: fc.array(portArb, { maxLength: 8 }),
  extra: fc.constantFrom([], [{ state: 'closed', count: 5 }], [{ state: 'filtered', count: 5 }]),
});

const rangeArb = fc
  .tuple(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 0, max: 6 }))
  .map(([lo, n]) => `${lo}-${Math.min(12, lo + n)}`);

const sideArb = fc.record({
  id: fc.constantFrom('scan_a', 'scan_b'),
  hosts: fc.uniqueArray(hostArb, { selector: (h) => h.addr, maxLength: 4 }),
  tcp: fc.option(fc.array(rangeArb, { minLength: 1, maxLength: 3 })),
  udp: fc.option(fc.array(rangeArb, { minLength: 1, maxLength: 2 })),
  targets: fc.subarray(['127.0.0.1', '127.0.0.2/31', '127.0.0.4']),
  pn: fc.boolean(),
});

type RawSide = typeof sideArb extends fc.Arbitrary<infer T> ? T : never;

function toSide(raw: RawSide): ScanSide {
  const probes: NonNullable<Report['probes']> = [];
  if (raw.tcp) probes.push({ type: 'connect', protocol: 'tcp', ports: raw.tcp.join(',') });
  if (raw.udp) probes.push({ type: 'udp', protocol: 'udp', ports: raw.udp.join(',') });
  const hosts: Host[] = raw.hosts.map((h) => {
    const seen = new Set<string>();
    const ports: Port[] = h.ports
      .filter((p) => !seen.has(`${p.port}/${p.protocol}`) && seen.add(`${p.port}/${p.protocol}`))
      .map((p) => ({
        protocol: p.protocol,
        port: p.port,
        state: p.state,
        reason: null,
        service: {
          name: 'svc',
          product: 'P',
          version: p.version,
          extraInfo: null,
          tunnel: null,
          method: null,
          confidence: 10,
        },
        cpe: [],
        scripts: [],
      }));
    return {
      status: h.status,
      reason: h.reason,
      addresses: [{ addr: h.addr, type: 'ipv4', vendor: null }],
      hostnames: [],
      ports,
      extraPorts: [...h.extra],
      hostScripts: [],
      os: [],
    };
  });
  return {
    scanId: raw.id,
    targets: raw.targets,
    report: {
      scanner: { version: '7.93', args: raw.pn ? 'nmap -Pn' : 'nmap', startedAt: null, endedAt: null },
      probes,
      hosts,
      stats: {
        hostsUp: 0,
        hostsDown: 0,
        hostsTotal: 0,
        elapsedSec: null,
        exit: 'success',
        summary: null,
        errorMessage: null,
      },
    },
  };
}

const key = (c: PortChange) => `${c.host} ${c.port}/${c.protocol}`;
const swapped = (list: PortChange[]) => list.map((c) => `${key(c)} ${c.to}->${c.from}`).sort();
const plain = (list: PortChange[]) => list.map((c) => `${key(c)} ${c.from}->${c.to}`).sort();
const hostsOf = (list: ScanDiff['hosts']['up']) => list.map((h) => h.host).sort();

describe('diffScans properties (fast-check, fixed seed)', () => {
  const params = { numRuns: 400, seed: 1016 };

  it('a scan diffed with itself is empty', () => {
    fc.assert(
      fc.property(sideArb, (raw) => {
        const s = toSide(raw);
        expect(diffIsEmpty(diffScans(s, s))).toBe(true);
      }),
      params,
    );
  });

  it('swapping the two scans swaps opened/closed, up/down and notChecked/newlyChecked', () => {
    fc.assert(
      fc.property(sideArb, sideArb, (ra, rb) => {
        const [a, b] = [toSide(ra), toSide(rb)];
        const ab = diffScans(a, b);
        const ba = diffScans(b, a);
        expect(plain(ab.ports.opened)).toEqual(swapped(ba.ports.closed));
        expect(plain(ab.ports.closed)).toEqual(swapped(ba.ports.opened));
        expect(plain(ab.ports.changed)).toEqual(swapped(ba.ports.changed));
        expect(plain(ab.ports.udpFlapping)).toEqual(swapped(ba.ports.udpFlapping));
        expect(plain(ab.ports.notChecked)).toEqual(swapped(ba.ports.newlyChecked));
        expect(hostsOf(ab.hosts.up)).toEqual(hostsOf(ba.hosts.down));
        expect(hostsOf(ab.hosts.notChecked)).toEqual(hostsOf(ba.hosts.newlyChecked));
        expect(ab.services.map((s) => `${s.host} ${s.port} ${s.from.version}->${s.to.version}`).sort()).toEqual(
          ba.services.map((s) => `${s.host} ${s.port} ${s.to.version}->${s.from.version}`).sort(),
        );
      }),
      params,
    );
  });

  it('nothing is closed, changed or gone that the newer scan did not probe or look for', () => {
    fc.assert(
      fc.property(sideArb, sideArb, (ra, rb) => {
        const [a, b] = [toSide(ra), toSide(rb)];
        const diff = diffScans(a, b);
        const head = coverageOf(b);
        for (const c of [...diff.ports.closed, ...diff.ports.changed, ...diff.ports.udpFlapping]) {
          expect(head.probed(head.hosts.get(c.host), c.protocol, c.port), key(c)).toBe(true);
        }
        for (const h of diff.hosts.down) {
          expect(head.discovery && head.covers(h.host, h.hostnames), h.host).toBe(true);
        }
        // ...and an open port head never probed is never reported closed.
        for (const c of diff.ports.notChecked)
          expect(head.probed(head.hosts.get(c.host), c.protocol, c.port)).toBe(false);
      }),
      params,
    );
  });
});
