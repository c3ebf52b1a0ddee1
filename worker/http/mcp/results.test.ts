import { describe, expect, it } from 'vitest';
import type { Host, Report } from '../../../shared/nmap-xml/index.ts';
import type { Scan } from '../../../shared/scan/index.ts';
import { MAX_PAGE_HOSTS, MAX_PAGE_PORTS, MAX_TEXT_HOSTS, scanToolResult, structuredScan } from './results.ts';

/** A finished scan of `up` hosts up (of `total`), host i with `portsOf(i)` open ports. */
function scanOf(up: number, total: number, portsOf: (i: number) => number): Scan {
  const hosts: Host[] = Array.from({ length: total }, (_, i) => ({
    status: i < up ? 'up' : 'down',
    reason: null,
    addresses: [{ addr: `10.1.${i >> 8}.${i & 255}`, type: 'ipv4', vendor: null }],
    hostnames: i === 0 ? [{ name: 'gw.lab.internal', type: 'PTR' }] : [],
    ports: Array.from({ length: i < up ? portsOf(i) : 0 }, (_, p) => ({
      protocol: 'tcp' as const,
      port: 1000 + p,
      state: 'open',
      reason: null,
      service:
        p === 0
          ? {
              name: 'ssh',
              product: 'OpenSSH',
              version: '9.2',
              extraInfo: null,
              tunnel: null,
              method: 'probed',
              confidence: 10,
            }
          : null,
      cpe: [],
      scripts: [],
    })),
    extraPorts: [],
    hostScripts: [],
    os: [],
  }));
  const report: Report = {
    scanner: { version: '7.93', args: null, startedAt: null, endedAt: null },
    hosts,
    stats: {
      hostsUp: up,
      hostsDown: total - up,
      hostsTotal: total,
      elapsedSec: 1,
      exit: 'success',
      summary: null,
      errorMessage: null,
    },
  };
  return {
    id: 'scan_t',
    status: 'succeeded',
    targets: ['10.1.0.0/24'],
    argv: ['-sn', '--', '10.1.0.0/24'],
    warnings: [],
    needsPrivilege: false,
    timeoutSec: 600,
    requestedBy: { tokenId: 't', name: 't' },
    runnerId: 'r',
    createdAt: '',
    dispatchedAt: null,
    startedAt: null,
    finishedAt: null,
    progress: null,
    exitCode: 0,
    signal: null,
    timedOut: false,
    truncated: { stdout: false, stderr: false },
    durationMs: 1500,
    error: null,
    report,
    outputBytes: 100,
    changes: null,
    scheduleId: null,
  };
}

describe('scan results sized for an agent', () => {
  it('names the hosts up in the text, capped with "and N more"', () => {
    const small = scanToolResult(scanOf(8, 8, () => 0)).content[0]!.text;
    expect(small).toContain(
      '8 of 8 hosts up: 10.1.0.0 (gw.lab.internal), 10.1.0.1, 10.1.0.2, 10.1.0.3, 10.1.0.4, 10.1.0.5, 10.1.0.6, 10.1.0.7; 0 open ports.',
    );
    const big = scanToolResult(scanOf(256, 256, () => 0)).content[0]!.text;
    expect(big).toMatch(
      new RegExp(
        `256 of 256 hosts up: 10\\.1\\.0\\.0 \\(gw\\.lab\\.internal\\), (10\\.1\\.0\\.\\d+, ){${MAX_TEXT_HOSTS - 1}}and ${256 - MAX_TEXT_HOSTS} more; 0 open ports\\.`,
      ),
    );
    expect(big).toMatch(/get_scan with offset/);
    expect(big.length).toBeLessThan(2000);
  });

  it('bounds structuredContent to a page and pages through every host and port exactly once', () => {
    for (const [up, portsOf] of [
      [256, () => 0],
      [200, (i: number) => i % 7],
      [3, () => 250],
      [1, () => 0],
    ] as Array<[number, (i: number) => number]>) {
      const scan = scanOf(up, 256, portsOf);
      const hosts: string[] = [];
      let ports = 0;
      let offset: number | undefined = 0;
      for (let pages = 0; offset !== undefined; pages++) {
        expect(pages).toBeLessThan(300);
        const page = structuredScan(scan, offset);
        expect(page.hosts.length).toBeLessThanOrEqual(MAX_PAGE_HOSTS);
        expect(page.openPorts.length).toBeLessThanOrEqual(MAX_PAGE_PORTS);
        expect(JSON.stringify(page).length).toBeLessThan(16_000);
        hosts.push(...page.hosts.map((h) => h.address));
        ports += page.openPorts.length;
        expect(page.more?.hosts ?? 0, 'hosts not on this page').toBe(up - page.hosts.length);
        offset = page.more?.nextOffset;
      }
      expect(new Set(hosts).size).toBe(up);
      expect(hosts.length).toBe(up);
      const total = Array.from({ length: up }, (_, i) => portsOf(i)).reduce((a, b) => a + b, 0);
      // A host with more open ports than a page holds is listed once, its ports cut at the cap and counted in more.
      expect(ports).toBe(
        Array.from({ length: up }, (_, i) => Math.min(portsOf(i), MAX_PAGE_PORTS)).reduce((a, b) => a + b, 0),
      );
      expect(structuredScan(scan, 0).more?.openPorts ?? 0).toBe(total - structuredScan(scan, 0).openPorts.length);
    }
  });

  it('says nothing was left out when the page holds everything', () => {
    const page = structuredScan(scanOf(8, 8, () => 2));
    expect(page.more).toBeUndefined();
    expect(page).toMatchObject({ hostsUp: 8, hostsTotal: 8 });
    expect(page.openPorts).toHaveLength(16);
    expect(page.openPorts[0]).toEqual({
      host: '10.1.0.0',
      port: 1000,
      protocol: 'tcp',
      service: 'ssh',
      product: 'OpenSSH',
      version: '9.2',
    });
  });
});
