import { describe, expect, it } from 'vitest';
import { resolvePolicy, validateScanRequest, type Policy } from './index.ts';

function policy(overrides: Record<string, unknown> = {}): Policy {
  const r = resolvePolicy(overrides);
  if (!r.ok) throw new Error(r.error.message);
  return r.policy;
}

function targetsOf(target: unknown, p?: Policy): string[] | string {
  const r = validateScanRequest({ target }, p);
  return r.ok ? r.argv.slice(r.argv.indexOf('--') + 1) : r.error.message;
}

describe('targets: addresses', () => {
  it.each([
    ['10.1.2.3', '10.1.2.3'],
    ['172.31.255.254', '172.31.255.254'],
    ['192.168.0.1', '192.168.0.1'],
    ['127.0.0.1', '127.0.0.1'],
    ['fd12:3456::1', 'fd12:3456::1'],
    ['FD12:3456:0:0:0:0:0:1', 'fd12:3456::1'],
    ['::1', '::1'],
  ])('accepts %s as %s', (input, canonical) => {
    expect(targetsOf(input)).toEqual([canonical]);
  });

  it.each([
    ['172.32.0.1', 'outside 172.16.0.0/12'],
    ['11.0.0.1', 'public'],
    ['0.0.0.0', 'unspecified'],
    ['255.255.255.255', 'broadcast'],
    ['224.0.0.1', 'multicast'],
    ['fe80::1', 'link-local v6'],
    ['::', 'unspecified v6'],
    ['ff02::1', 'multicast v6'],
    ['10.0.0.256', 'octet above 255'],
    ['10.0.0', 'three-part shorthand'],
    ['10.0.0.01', 'leading zero'],
    ['012.0.0.1', 'leading zero octal'],
    ['0x0a.0.0.1', 'hex octet'],
    ['167772161', 'integer form of 10.0.0.1'],
    ['10.0.0.1.', 'trailing dot on an address'],
    ['[::1]', 'bracketed v6'],
    ['::ffff:192.168.1.1/120', 'mapped network'],
    ['10.0.0.*', 'wildcard'],
    ['10.0.0.1-5', 'octet range'],
    ['10.0.0.0/33', 'prefix too long'],
    ['10.0.0.0/-1', 'negative prefix'],
    ['10.0.0.0/08', 'leading zero prefix'],
    [' 10.0.0.1', 'leading space'],
    ['10.0.0.1\n', 'newline'],
    ['10.0.0.1;id', 'shell metachar'],
    ['-sV', 'option'],
  ])('rejects %s (%s)', (input) => {
    const r = validateScanRequest({ target: input });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.type).toBe('validation_error');
  });

  it('reads an allowed IPv4-mapped IPv6 address as its IPv4 address, with a warning', () => {
    const r = validateScanRequest({ target: '::ffff:10.0.0.7' });
    expect(r.ok && r.argv.slice(-2)).toEqual(['--', '10.0.0.7']);
    expect(r.ok && r.warnings[0]).toMatch(/scanned as 10\.0\.0\.7/);
  });

  it('reads an embedded dotted quad as nmap does: only ::ffff: is mapped, ::10.0.0.5 is the IPv6 address ::a00:5', () => {
    // ipaddr.js alone would take ::10.0.0.5 for ::ffff:10.0.0.5 and scan 10.0.0.5 instead.
    expect(targetsOf('::10.0.0.5')).toMatch(/not inside an allowed network/);
    expect(targetsOf('::127.0.0.1')).toMatch(/not inside an allowed network/);
    expect(targetsOf('0:0:0:0:0:ffff:10.0.0.5')).toEqual(['10.0.0.5']);
    expect(targetsOf('::FFFF:127.0.0.1')).toEqual(['127.0.0.1']);
    expect(targetsOf('fd00::10.0.0.5')).toEqual(['fd00::a00:5']);
    expect(targetsOf('::ffff:010.0.0.5')).toMatch(/invalid embedded IPv4/);
  });

  it('adds -6 for IPv6 targets and refuses to mix families', () => {
    const v6 = validateScanRequest({ target: ['fd00::1', 'fd00::2'] });
    expect(v6.ok && v6.argv).toContain('-6');
    const mixed = validateScanRequest({ target: ['10.0.0.1', 'fd00::1'] });
    expect(!mixed.ok && mixed.error.message).toMatch(/IPv6 .*IPv4|one family/);
    const forced = validateScanRequest({ target: '10.0.0.1', args: '-6' });
    expect(!forced.ok && forced.error.message).toMatch(/-6 .*IPv4/);
  });
});

describe('targets: networks', () => {
  it('accepts networks wholly inside an allowed one and canonicalises IPv6', () => {
    expect(targetsOf('10.255.255.0/24')).toEqual(['10.255.255.0/24']);
    expect(targetsOf('fd00:0:0:0::/118')).toEqual(['fd00::/118']);
    expect(targetsOf('10.0.0.5/32')).toEqual(['10.0.0.5/32']);
  });

  it('refuses a network that reaches outside the allowed ones', () => {
    expect(targetsOf('172.16.0.0/11')).toMatch(/not wholly inside an allowed network/);
    expect(targetsOf('fc00::/6')).toMatch(/not wholly inside/);
  });

  it('refuses host bits and suggests the network address', () => {
    const r = validateScanRequest({ target: '10.0.0.5/24' });
    expect(!r.ok && r.error.message).toMatch(/host bits/);
    expect(!r.ok && r.error.recoverySuggestion).toContain('10.0.0.0/24');
  });

  it('suggests the prefix that fits maxHosts', () => {
    const r = validateScanRequest({ target: '10.0.0.0/21' });
    expect(!r.ok && r.error.recoverySuggestion).toContain('/22');
    const small = validateScanRequest({ target: '10.0.0.0/24' }, policy({ maxHosts: 100 }));
    expect(!small.ok && small.error.recoverySuggestion).toContain('/26');
    const v6 = validateScanRequest({ target: 'fd00::/64' });
    expect(!v6.ok && v6.error.recoverySuggestion).toContain('/118');
  });

  it('counts addresses over all targets against maxHosts', () => {
    expect(targetsOf(['10.0.0.0/23', '10.0.2.0/23'])).toEqual(['10.0.0.0/23', '10.0.2.0/23']);
    expect(targetsOf(['10.0.0.0/23', '10.0.2.0/23', '10.0.4.1'])).toMatch(/1025 addresses/);
  });

  it('honours custom allowed networks and the narrowest match', () => {
    const p = policy({ allowedNetworks: ['10.20.0.0/16'] });
    expect(targetsOf('10.20.1.1', p)).toEqual(['10.20.1.1']);
    expect(targetsOf('10.21.1.1', p)).toMatch(/not inside/);
    const outside = validateScanRequest({ target: '127.0.0.1' }, p);
    expect(!outside.ok && outside.error.recoverySuggestion).toMatch(/inside 10\.20\.0\.0\/16;/);
  });
});

describe('targets: hostnames', () => {
  it.each([
    ['a.lab.internal', 'a.lab.internal'],
    ['A-1.B2.LAB.INTERNAL.', 'a-1.b2.lab.internal'],
    ['xn--bcher-kva.lab.internal', 'xn--bcher-kva.lab.internal'],
    ['10.0.0.5.lab.internal', '10.0.0.5.lab.internal'],
  ])('accepts %s as %s', (input, canonical) => {
    expect(targetsOf(input)).toEqual([canonical]);
  });

  it.each([
    'lab.internal',
    '.lab.internal',
    'a..lab.internal',
    '-a.lab.internal',
    'a-.lab.internal',
    'a_b.lab.internal',
    'evil-lab.internal',
    'a.lab.internal.evil',
    'a.lab.internal..',
    `${'a'.repeat(64)}.lab.internal`,
    `${'a.'.repeat(125)}lab.internal`,
    'héllo.lab.internal',
  ])('rejects %s', (input) => {
    expect(validateScanRequest({ target: input }).ok).toBe(false);
  });

  it('matches custom suffixes on a label boundary', () => {
    const p = policy({ allowedHostSuffixes: ['corp.example', '.Lab.Internal'] });
    expect(targetsOf('db.corp.example', p)).toEqual(['db.corp.example']);
    expect(targetsOf('db.lab.internal', p)).toEqual(['db.lab.internal']);
    expect(targetsOf('dbcorp.example', p)).toMatch(/not under an allowed suffix/);
  });
});

describe('targets: the list', () => {
  it('rejects an empty list, a non-string item and more than maxTargets', () => {
    expect(targetsOf([])).toMatch(/No target/);
    expect(targetsOf(['10.0.0.1', 5])).toMatch(/must be a string/);
    const many = Array.from({ length: 17 }, (_, i) => `10.0.0.${i + 1}`);
    expect(targetsOf(many)).toMatch(/17 targets .* at most 16/);
    expect(targetsOf(many, policy({ maxTargets: 20 }))).toHaveLength(17);
  });

  it('scans a duplicate once and says so', () => {
    const r = validateScanRequest({ target: ['10.0.0.1', '10.0.0.1', 'A.lab.internal', 'a.lab.internal.'] });
    expect(r.ok && r.argv.slice(r.argv.indexOf('--') + 1)).toEqual(['10.0.0.1', 'a.lab.internal']);
    expect(r.ok && r.warnings).toHaveLength(2);
  });
});
