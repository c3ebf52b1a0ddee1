import { describe, expect, it } from 'vitest';
import type { Host, Report } from '../../../shared/nmap-xml/index.ts';
import type { Scan } from '../../../shared/scan/index.ts';
import { parseNmapXml } from '../../../shared/nmap-xml/index.ts';
import { nmapXmlDocument, type DocHost, type DocPort } from '../../../test/helpers/nmap-xml-doc.ts';
import { scriptFindings } from './findings.ts';
import {
  MAX_PAGE_HOSTS,
  MAX_PAGE_PORTS,
  MAX_SUMMARY_CHARS,
  MAX_TEXT_HOSTS,
  scanToolResult,
  structuredScan,
} from './results.ts';

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

const VULN_MS17_010 = `
  VULNERABLE:
  Remote Code Execution vulnerability in Microsoft SMBv1 servers (ms17-010)
    State: VULNERABLE
    IDs:  CVE:CVE-2017-0143
    Risk factor: HIGH
      A critical remote code execution vulnerability exists in Microsoft SMBv1
       servers (ms17-010).
    Disclosure date: 2017-03-14
    References:
      https://technet.microsoft.com/en-us/library/security/ms17-010.aspx
`;

/**
 * A /24 as nmap 7.93 writes it with -sV -sC (nmap-xml-doc.ts), parsed as the runner parses it: 254 of 256 hosts up,
 * each with ssh, most with http and https, some with SMB, FTP and MySQL; host keys, titles and certificates on
 * every host, signing not required on 40, anonymous FTP on one, ms17-010 on two, an expired certificate on three.
 */
function bigLabScan(): Scan {
  const hosts: DocHost[] = Array.from({ length: 256 }, (_, i) => {
    const addr = `10.20.30.${i}`;
    if (i === 0 || i === 255) return { addr, status: 'down' };
    const ports: DocPort[] = [
      {
        port: 22,
        service: { name: 'ssh', product: 'OpenSSH', version: '9.2p1 Debian 2+deb12u3', extrainfo: 'protocol 2.0' },
        scripts: [
          {
            id: 'ssh-hostkey',
            output: `\n  256 ${i.toString(16).padStart(2, '0')}:aa:bb (ECDSA)\n  256 cc:dd (ED25519)`,
          },
        ],
      },
    ];
    if (i % 2 === 0)
      ports.push(
        {
          port: 80,
          service: { name: 'http', product: 'nginx', version: '1.22.1' },
          scripts: [{ id: 'http-title', output: `Host ${i} dashboard` }],
        },
        {
          port: 443,
          service: { name: 'http', product: 'nginx', version: '1.22.1', tunnel: 'ssl' },
          scripts: [
            {
              id: 'ssl-cert',
              output: `Subject: commonName=h${i}.lab.internal\nNot valid before: 2020-01-01T00:00:00\nNot valid after:  ${i % 50 === 2 ? '2024-01-01T00:00:00' : '2030-01-01T00:00:00'}`,
            },
          ],
        },
      );
    if (i % 6 === 1) ports.push({ port: 3306, service: { name: 'mysql', product: 'MySQL', version: '8.0.36' } });
    if (i === 21)
      ports.push({
        port: 21,
        service: { name: 'ftp', product: 'vsftpd', version: '3.0.3' },
        scripts: [{ id: 'ftp-anon', output: 'Anonymous FTP login allowed (FTP code 230)\ndrwxr-xr-x 2 0 0 4096 pub' }],
      });
    const smb = i % 6 === 3;
    if (smb)
      ports.push({
        port: 445,
        service: { name: 'microsoft-ds' },
        scripts: i === 9 || i === 99 ? [{ id: 'smb-vuln-ms17-010', output: VULN_MS17_010 }] : [],
      });
    return {
      addr,
      hostname: i % 10 === 0 ? `host-${i}.lab.internal` : undefined,
      closed: 1000 - ports.length,
      ports: ports.sort((a, b) => a.port - b.port),
      hostScripts: smb
        ? [{ id: 'smb2-security-mode', output: '\n  3:1:1: \n    Message signing enabled but not required' }]
        : [],
    };
  });
  const parsed = parseNmapXml(
    nmapXmlDocument({ start: 1796024456, args: 'nmap -sV -sC -T4 -n -Pn --top-ports 1000 -- 10.20.30.0/24', hosts }),
  );
  if (!parsed.ok) throw new Error(parsed.problem);
  return {
    ...scanOf(0, 0, () => 0),
    id: 'scan_big',
    targets: ['10.20.30.0/24'],
    report: parsed.report,
    durationMs: 412_000,
    outputBytes: 180_000,
    xml: { bytes: 900_000, truncated: false },
  };
}

describe('a summary sized for an agent, from a /24 with many open ports', () => {
  const scan = bigLabScan();
  const result = scanToolResult(scan);
  const text = result.content[0].text;
  const openPorts = scan.report!.hosts.reduce((n, h) => n + h.ports.filter((p) => p.state === 'open').length, 0);

  it(`stays within ${MAX_SUMMARY_CHARS} characters and says what it left out`, () => {
    expect(openPorts).toBeGreaterThan(500);
    expect(text.length).toBeLessThanOrEqual(MAX_SUMMARY_CHARS);
    expect(text).toMatch(
      /^Scan scan_big succeeded in 412\.0 s \(targets: 10\.20\.30\.0\/24\)\.\n254 of 256 hosts up: /,
    );
    expect(text).toContain(`; ${openPorts} open ports.`);
    const listed = text.split('\n').filter((l) => /^- 10\.20\.30\.\d+ \d+\/tcp /.test(l));
    expect(listed.length).toBeGreaterThan(5);
    expect(listed[0]).toBe('- 10.20.30.1 22/tcp ssh OpenSSH 9.2p1 Debian 2+deb12u3');
    const left = /Not listed here: (\d+) open ports on (\d+) hosts; (\d+) other script results/.exec(text);
    expect(left, text).not.toBeNull();
    expect(Number(left![1])).toBe(openPorts - listed.length);
    expect(text).toContain('Most common open services: 22/tcp ssh OpenSSH 9.2p1 Debian 2+deb12u3 ×254, ');
    expect(text).toContain('resource scangate://scans/scan_big/xml');
    expect(text).toContain('resource scangate://scans/scan_big/output');
  });

  it('lists the notable script findings, most severe first, one line for a finding seen on many hosts', () => {
    const findings = text.slice(text.indexOf('Notable script findings:\n')).split('\n').slice(1);
    expect(findings[0]).toBe(
      '- smb-vuln-ms17-010 on 10.20.30.9 445/tcp (and 1 more): Remote Code Execution vulnerability in Microsoft SMBv1 servers (ms17-010)',
    );
    expect(findings[1]).toBe('- ftp-anon on 10.20.30.21 21/tcp: Anonymous FTP login allowed (FTP code 230)');
    expect(findings).toContain(
      '- smb2-security-mode on 10.20.30.3 (and 41 more): Message signing enabled but not required',
    );
    expect(
      findings.some((l) =>
        /^- ssl-cert on 10\.20\.30\.2 443\/tcp \(and 5 more\): certificate expired 2024-01-01$/.test(l),
      ),
    ).toBe(true);
    expect(text).not.toMatch(/ssh-hostkey|http-title/);
  });

  it('keeps structuredContent to a page, saying what was left out (more) and the totals', () => {
    const page = result.structuredContent as Record<string, any>;
    expect(JSON.stringify(page).length).toBeLessThan(16_000);
    expect(page).toMatchObject({ hostsUp: 254, hostsTotal: 256 });
    expect(page.hosts.length + page.more.hosts).toBe(254);
    expect(page.openPorts.length).toBeLessThanOrEqual(MAX_PAGE_PORTS);
    expect(page.more.openPorts).toBe(openPorts - page.openPorts.length);
  });

  it('links the raw output and the nmap XML as resources', () => {
    expect(result.content.slice(1)).toEqual([
      expect.objectContaining({
        type: 'resource_link',
        uri: 'scangate://scans/scan_big/output',
        mimeType: 'text/plain',
        size: 180_000,
      }),
      expect.objectContaining({
        type: 'resource_link',
        uri: 'scangate://scans/scan_big/xml',
        mimeType: 'application/xml',
        size: 900_000,
      }),
    ]);
    expect(scanToolResult({ ...scan, outputBytes: 0, xml: undefined }).content).toHaveLength(1);
  });

  it('stays bounded with the longest targets, hostnames and error a scan can carry', () => {
    const long = 'a'.repeat(60);
    const names = scan.report!.hosts.map((h) => ({
      ...h,
      hostnames: [{ name: `${long}.${long}.${long}.lab.internal`, type: 'PTR' }],
    }));
    const worst: Scan = {
      ...scan,
      status: 'failed',
      targets: Array.from({ length: 16 }, (_, i) => `${long}${i}.${long}.${long}.lab.internal`),
      report: { ...scan.report!, hosts: names },
      error: { type: 'execution_error', message: 'x'.repeat(2048), recoverySuggestion: 'y'.repeat(2048) },
      truncated: { stdout: true, stderr: true },
      xml: { bytes: 8 << 20, truncated: true },
    };
    const worstText = scanToolResult(worst).content[0].text;
    expect(worstText.length).toBeLessThanOrEqual(MAX_SUMMARY_CHARS);
    expect(worstText).toContain('execution_error: xxx');
    expect(worstText).toContain('cut at the cap');
  });
});

describe('notable script findings', () => {
  const withScripts = (scripts: Array<{ id: string; output: string }>) =>
    scriptFindings({
      ...scanOf(1, 1, () => 1).report!,
      scanner: { version: '7.93', args: null, startedAt: '2026-11-30T07:00:00.000Z', endedAt: null },
      hosts: [{ ...scanOf(1, 1, () => 1).report!.hosts[0]!, hostScripts: scripts }],
    });

  it('picks what says exploitable or exposed, and counts the rest', () => {
    const found = withScripts([
      { id: 'smb-vuln-ms10-054', output: 'false' },
      {
        id: 'smb-vuln-cve2009-3103',
        output: '\n  NOT VULNERABLE:\n  SMBv2 exploit (CVE-2009-3103)\n    State: NOT VULNERABLE',
      },
      { id: 'ssl-cert', output: 'Subject: commonName=a\nNot valid after:  2027-01-01T00:00:00' },
      { id: 'http-brute', output: '\n  Accounts:\n    admin:admin - Valid credentials\n  Statistics: 10 guesses' },
      {
        id: 'vulners',
        output: '\n  cpe:/a:openbsd:openssh:7.4:\n    CVE-2023-38408 9.8 https://vulners.com/cve/CVE-2023-38408',
      },
      { id: 'ssl-enum-ciphers', output: '\n  TLSv1.0:\n    ciphers:\n  least strength: C' },
      { id: 'http-methods', output: '\n  Supported Methods: GET PUT\n  Potentially risky methods: PUT' },
    ]);
    expect(found.total).toBe(7);
    expect(found.notable.map((f) => [f.rank, f.scriptId, f.line])).toEqual([
      [1, 'http-brute', 'admin:admin - Valid credentials'],
      [2, 'vulners', 'CVE-2023-38408 9.8 https://vulners.com/cve/CVE-2023-38408'],
      [3, 'ssl-enum-ciphers', 'least strength: C'],
      [3, 'http-methods', 'Potentially risky methods: PUT'],
    ]);
  });
});
