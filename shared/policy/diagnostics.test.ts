import { describe, expect, it } from 'vitest';
import { resolvePolicy, revalidateArgv, validateScanRequest, type Policy } from './index.ts';

const open = (() => {
  const r = resolvePolicy({ allowIntrusive: true, allowEvasion: true });
  if (!r.ok) throw new Error('policy');
  return r.policy;
})();

type Request = { target: string | string[]; args?: string | string[]; template?: string };

function refused(request: Request, policy?: Policy) {
  const r = validateScanRequest(request, policy);
  if (r.ok) throw new Error(`accepted: ${r.argv.join(' ')}`);
  return r.error;
}

describe('consistency with nmap and with the runner', () => {
  it('refuses repeats that nmap counts, with the spelling that means what was typed', () => {
    const vv = refused({ target: '10.0.0.5', args: '-v -sV -v' });
    expect(vv.message).toMatch(/-v is given twice: nmap counts each -v/);
    expect(vv.details?.suggested).toEqual({ target: '10.0.0.5', args: ['-vv', '-sV'] });
    expect(refused({ target: '10.0.0.5', args: '-vv -vv' }).message).toMatch(/verbosity 4/);
    const ff = refused({ target: '10.0.0.5', args: '-f -f' }, open);
    expect(ff.message).toMatch(/16-byte fragments; write --mtu 16/);
    expect(ff.details?.suggested).toEqual({ target: '10.0.0.5', args: ['--mtu', '16'] });
    // A flag nmap does not count still collapses harmlessly.
    const sv = validateScanRequest({ target: '10.0.0.5', args: '-sV -sV' });
    expect(sv.ok && sv.argv.filter((t) => t === '-sV')).toHaveLength(1);
  });

  it('refuses a reordered canonical argv, as the runner must', () => {
    const r = validateScanRequest({ target: '10.0.0.5', args: '-sV --reason -p 22' });
    if (!r.ok) throw new Error(r.error.message);
    expect(revalidateArgv(r.argv).ok).toBe(true);
    const dashes = r.argv.indexOf('--');
    const options = r.argv.slice(0, dashes);
    const moved = [...options.slice(1), options[0]!, ...r.argv.slice(dashes)];
    const again = revalidateArgv(moved);
    expect(!again.ok && again.error.message).toMatch(/not in canonical form/);
  });

  it('refuses what nmap would read by order or turn on its own segment', () => {
    // nmap adds 8 for each -f to an --mtu given before it: -f and --mtu together depend on their order.
    expect(refused({ target: '10.0.0.5', args: '--mtu 16 -f' }, open).message).toMatch(
      /-f and --mtu cannot be combined|--mtu and -f cannot be combined/,
    );
    // A decoy that is scanned itself would make a target receive packets from itself.
    expect(refused({ target: '10.0.0.0/29', args: '-D 10.0.0.3' }, open).message).toMatch(
      /Decoy 10\.0\.0\.3 is one of the targets/,
    );
    // A group MAC would have every host on the segment receive the replies.
    expect(refused({ target: '10.0.0.5', args: '--spoof-mac ff:ff:ff:ff:ff:ff' }, open).message).toMatch(
      /broadcast or multicast MAC/,
    );
    expect(refused({ target: '10.0.0.5', args: '--spoof-mac 01:00:5e:00:00:01' }, open).message).toMatch(
      /broadcast or multicast MAC/,
    );
  });

  it('gives the same argv whatever order the options came in', () => {
    const a = validateScanRequest({ target: '10.0.0.5', args: '--open -sV -p 22 -T3 --reason' });
    const b = validateScanRequest({ target: '10.0.0.5', args: '--reason -T3 -p 22 -sV --open' });
    expect(a.ok && b.ok && a.argv).toEqual(b.ok && b.argv);
  });
});

describe('messages that diagnose', () => {
  it.each([
    [
      '-privileged',
      /-privileged is --privileged written with one dash; --privileged is not allowed: it claims privileges/,
    ],
    ['-unprivileged', /written with one dash; --unprivileged is not allowed/],
    ['--iL /etc/passwd', /--iL is -iL with one dash too many; -iL is not allowed: it reads targets from a file/],
    [
      '-iL/etc/passwd',
      /-iL\/etc\/passwd is -iL with a value glued on; -iL is not allowed: it reads targets from a file/,
    ],
    ['-eeth0', /-e with a value glued on; -e is not allowed: it picks the network interface/],
    [
      '--resum x',
      /--resum abbreviates --resume, which|--resum abbreviates --resume; --resume is not allowed: it reads a file/,
    ],
    ['--datad x', /abbreviates --datadir; --datadir is not allowed/],
    ['--oX x', /-oX is an output option|--oX is an output option/],
    ['-oX/tmp/x', /-oX\/tmp\/x is an output option/],
    ['-top-ports 10', /-top-ports is a long option written with one dash/],
    ['---script x', /---script has one dash too many/],
    ['--sV', /--sV has one dash too many/],
  ])('%s', (args, message) => {
    expect(refused({ target: '10.0.0.5', args }).message).toMatch(message);
  });

  it.each([
    ['10.0.0.5:80', /is a host:port pair/, { target: ['10.0.0.5'], args: ['-p', '80'] }],
    ['web.lab.internal:8080', /is a host:port pair/, { target: ['web.lab.internal'], args: ['-p', '8080'] }],
    ['http://10.0.0.5:8080/admin', /is a URL/, { target: ['10.0.0.5'], args: ['-p', '8080'] }],
    ['https://web.lab.internal/', /is a URL/, { target: ['web.lab.internal'] }],
    ['[::1]', /is a bracketed IPv6 address/, { target: ['::1'] }],
    ['[fd00::5]:22', /is a bracketed IPv6 address with a port/, { target: ['fd00::5'], args: ['-p', '22'] }],
    ['10.0.0.1/24', /host bits set/, { target: ['10.0.0.0/24'] }],
  ])('target %s names its form and offers the fix', (target, message, suggested) => {
    const e = refused({ target });
    expect(e.message).toMatch(message);
    expect(e.message).not.toMatch(/not a valid IPv6 address/);
    expect(e.details?.suggested).toEqual(suggested);
  });

  it('names look-alike and invisible characters, in targets and in args', () => {
    const cyrillic = refused({ target: 'w\u0435b.lab.internal' });
    expect(cyrillic.message).toMatch(/"е" \(U\+0435 CYRILLIC SMALL LETTER IE, which looks like "e"\)/);
    expect(cyrillic.details?.suggested).toEqual({ target: ['web.lab.internal'] });
    const zeroWidth = refused({ target: '10.0.0.5\u200b' });
    expect(zeroWidth.message).toMatch(/the invisible character U\+200B ZERO WIDTH SPACE/);
    expect(zeroWidth.details?.suggested).toEqual({ target: ['10.0.0.5'] });
    expect(refused({ target: '10.0.0.5', args: '\u2013p 80' }).message).toMatch(
      /U\+2013 EN DASH, which looks like "-"/,
    );
    expect(refused({ target: '10.0.0.5', args: ['-p', '80\u200d'] }).message).toMatch(/ZERO WIDTH JOINER/);
  });
});

describe('every concrete suggestion is itself accepted', () => {
  // Bad requests of every kind that has a certain fix; each MUST carry a suggestion, and each suggestion MUST pass.
  const withFix: Array<[Request, Policy | undefined]> = [
    [{ target: '10.0.0.5', args: '-script http-title' }, undefined],
    [{ target: '10.0.0.5', args: '-top-ports=10' }, undefined],
    [{ target: '10.0.0.5', args: '--top 10' }, undefined],
    [{ target: '10.0.0.5', args: '--open=yes' }, undefined],
    [{ target: '10.0.0.5', args: '-p=80' }, undefined],
    [{ target: '10.0.0.5', args: '-PS=22' }, undefined],
    [{ target: '10.0.0.5', args: '--sV' }, undefined],
    [{ target: '10.0.0.5', args: '-nF' }, undefined],
    [{ target: '10.0.0.5', args: '-v -v' }, undefined],
    [{ target: '10.0.0.5', args: '-f -f' }, open],
    [{ target: '10.0.0.5', args: '--script http-title,' }, undefined],
    [{ target: '10.0.0.5', args: '--script=HTTP-TITLE' }, undefined],
    [{ target: '10.0.0.5', args: '--script +http-title' }, undefined],
    [{ target: '10.0.0.5', args: '--script scripts/http-title.nse' }, undefined],
    [{ target: '10.0.0.5:443' }, undefined],
    [{ target: ['10.0.0.6', 'http://10.0.0.5:8080/'], args: '-sV' }, undefined],
    [{ target: '[::1]:22' }, undefined],
    [{ target: '10.0.0.9/29' }, undefined],
    [{ target: 'web.lab.intern\u0430l' }, undefined],
    [{ target: '\ufeff10.0.0.5' }, undefined],
  ];

  it.each(
    withFix.map(
      ([request, policy]) =>
        [`${JSON.stringify(request.target)} ${JSON.stringify(request.args ?? '')}`, request, policy] as const,
    ),
  )('%s', (_name, request, policy) => {
    const e = refused(request, policy);
    const suggested = e.details?.suggested as Request | undefined;
    expect(suggested, e.message).toBeDefined();
    const again = validateScanRequest(suggested, policy);
    expect(again.ok ? 'accepted' : again.error.message).toBe('accepted');
  });

  it('offers no suggestion it has not checked: a fix that meets a second problem is left out', () => {
    // The port fix for the target would collide with the -p already given.
    const e = refused({ target: '10.0.0.5:80', args: '-p 22' });
    expect(e.message).toMatch(/host:port/);
    expect(e.details?.suggested).toBeUndefined();
  });
});
