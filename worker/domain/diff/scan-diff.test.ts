import { describe, expect, it } from 'vitest';
import { side } from './fixtures.ts';
import { diffIsEmpty, diffIsQuiet, diffScans, diffSummary } from './index.ts';

const ports = (list: Array<{ port: number; protocol: string; from: string; to: string }>) =>
  list.map((p) => `${p.port}/${p.protocol} ${p.from}->${p.to}`);

describe('diffScans on real nmap XML of a loopback listener', () => {
  it('reads what nmap probed from <scaninfo>', () => {
    expect(side('up').report.probes).toEqual([{ type: 'connect', protocol: 'tcp', ports: '2220-2230,4430' }]);
  });

  it('a listener stopped between two scans is a closed port, and nothing else changed', () => {
    const diff = diffScans(side('up'), side('down'));
    expect(ports(diff.ports.opened)).toEqual([]);
    expect(ports(diff.ports.closed)).toEqual(['2222/tcp open->closed']);
    expect(diff.services).toEqual([]);
    expect(diff.certificates).toEqual([]);
    expect(diffSummary(diff)).toBe('Since scan_up: 1 port closed.');
  });

  it('a listener moved to another port is one opened and one closed', () => {
    const diff = diffScans(side('up'), side('moved'));
    expect(ports(diff.ports.opened)).toEqual(['2225/tcp closed->open']);
    expect(ports(diff.ports.closed)).toEqual(['2222/tcp open->closed']);
  });

  it('another banner is a version change, and another certificate a certificate change', () => {
    const diff = diffScans(side('up'), side('newBanner'));
    expect(diff.ports.opened).toEqual([]);
    expect(diff.ports.closed).toEqual([]);
    expect(diff.services).toEqual([
      {
        host: '127.0.0.1',
        port: 2222,
        protocol: 'tcp',
        from: { name: 'ssh', product: 'OpenSSH', version: '7.4' },
        to: { name: 'ssh', product: 'OpenSSH', version: '8.9p1 Ubuntu 3' },
      },
    ]);
    const [cert] = diff.certificates;
    expect(cert?.port).toBe(4430);
    expect(cert?.fields).toEqual(['subject', 'issuer', 'notAfter', 'sha1']);
    expect(cert?.from.subject).toBe('commonName=lab-a.test/organizationName=Lab A');
    expect(cert?.to.subject).toBe('commonName=lab-b.test/organizationName=Lab B');
    expect(diff.scripts).toEqual([]); // ssl-cert is compared as a certificate, not as text
  });

  it('a later scan of other ports reports the earlier open ports as not checked, never closed', () => {
    const diff = diffScans(side('up'), side('otherPorts'));
    expect(diff.ports.closed).toEqual([]);
    expect(ports(diff.ports.notChecked)).toEqual(['2222/tcp open->not-checked', '4430/tcp open->not-checked']);
    expect(diffIsQuiet(diff)).toBe(true);
    expect(diffSummary(diff)).toBe('Since scan_up: no changes; 2 not checked this time.');
  });

  it('a host outside the later scan is not checked; inside it and not up, it is gone', () => {
    const elsewhere = diffScans(side('up'), side('otherPorts', ['127.0.0.9']));
    // 127.0.0.1 is in the later report only because it was scanned: here it is, so compare ports; now drop it.
    const later = side('down', ['127.0.0.9']);
    later.report = { ...later.report, hosts: [] };
    const missing = diffScans(side('up'), later);
    expect(missing.hosts.notChecked.map((h) => h.host)).toEqual(['127.0.0.1']);
    expect(missing.hosts.down).toEqual([]);
    const covered = side('down', ['127.0.0.0/30']);
    covered.report = {
      ...covered.report,
      hosts: [],
      scanner: { ...covered.report.scanner, args: 'nmap -sT -p 22 127.0.0.0/30' },
    };
    const gone = diffScans(side('up'), covered);
    expect(gone.hosts.down).toEqual([
      { host: '127.0.0.1', hostnames: ['localhost'], openPorts: ['2222/tcp', '4430/tcp'] },
    ]);
    expect(elsewhere.hosts.down).toEqual([]);
  });

  it('with -Pn a missing host was not looked for, so it is not called gone', () => {
    const later = side('down');
    later.report = { ...later.report, hosts: [] }; // the fixtures ran with -Pn
    expect(diffScans(side('up'), later).hosts.notChecked).toHaveLength(1);
  });

  it('UDP open|filtered coming and going is flapping, apart from opened and closed', () => {
    const diff = diffScans(side('udpSilent'), side('udpGone'));
    expect(ports(diff.ports.udpFlapping)).toEqual(['5354/udp open|filtered->closed']);
    expect(diff.ports.closed).toEqual([]);
    expect(diffIsQuiet(diff)).toBe(true);
    expect(diffSummary(diff)).toBe('Since scan_udpSilent: no changes; 1 UDP port flapping.');
  });

  it('every fixture diffed with itself is empty', () => {
    for (const name of ['up', 'down', 'moved', 'newBanner', 'otherPorts', 'udpSilent', 'udpGone'] as const) {
      expect(diffIsEmpty(diffScans(side(name), side(name))), name).toBe(true);
    }
  });
});
