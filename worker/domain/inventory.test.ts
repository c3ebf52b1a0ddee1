import { describe, expect, it } from 'vitest';
import { side } from './diff/fixtures.ts';
import { addressKey, cidrKeyRange, observe, versionOlderThan } from './inventory.ts';

describe('inventory rules', () => {
  it('address keys sort like addresses, and a CIDR is a key range', () => {
    const keys = ['10.0.0.2', '10.0.0.10', '9.255.255.255', '10.0.1.0'].map((a) => addressKey(a)!);
    expect([...keys].sort()).toEqual([keys[2], keys[0], keys[1], keys[3]]);
    const [lo, hi] = cidrKeyRange('10.0.0.0/24')!;
    expect(keys.map((k) => k >= lo && k <= hi)).toEqual([true, true, false, false]);
    expect(cidrKeyRange('fd00::/8')![0]).toBe(`6fd${'0'.repeat(30)}`);
    expect(addressKey('::ffff:10.0.0.1')).toBe(addressKey('10.0.0.1'));
    expect(addressKey('lab.internal')).toBeNull();
    expect(cidrKeyRange('10.0.0.0/33')).toBeNull();
  });

  it('compares versions by their leading numbers and never guesses', () => {
    expect(versionOlderThan('7.4', '8.0')).toBe(true);
    expect(versionOlderThan('8.9p1 Ubuntu 3', '8.0')).toBe(false);
    expect(versionOlderThan('8.0', '8.0')).toBe(false);
    expect(versionOlderThan('2.4.10', '2.4.9')).toBe(false);
    expect(versionOlderThan(null, '8.0')).toBe(false);
    expect(versionOlderThan('unknown', '8.0')).toBe(false);
  });

  it('observes the open services of a real scan and the state of what it probed', () => {
    const seen = observe(side('up'));
    expect(seen.hosts).toEqual([{ address: '127.0.0.1', hostnames: ['localhost'] }]);
    expect(seen.open.map((s) => `${s.port}/${s.protocol} ${s.service} ${s.product} ${s.version}`)).toEqual([
      '2222/tcp ssh OpenSSH 7.4',
      '4430/tcp http OpenSSL s_server -www httpd null',
    ]);
    expect(seen.open[1]?.scripts.map((s) => s.id)).toContain('ssl-cert');
    const later = observe(side('otherPorts'));
    expect(later.stateIfProbed('127.0.0.1', 'tcp', 2222)).toBeNull(); // not probed: state unknown, not "closed"
    expect(observe(side('down')).stateIfProbed('127.0.0.1', 'tcp', 2222)).toBe('closed');
  });
});
