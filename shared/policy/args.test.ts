import { describe, expect, it } from 'vitest';
import { CATALOG, resolvePolicy, revalidateArgv, validateScanRequest, type Policy } from './index.ts';

function policy(overrides: Record<string, unknown> = {}): Policy {
  const r = resolvePolicy(overrides);
  if (!r.ok) throw new Error(r.error.message);
  return r.policy;
}

const intrusive = policy({ allowIntrusive: true });
const evasion = policy({ allowEvasion: true });

/** The options part of the canonical argv (before `--`). */
function optionsOf(args: string | string[], p?: Policy): string[] {
  const r = validateScanRequest({ target: '10.0.0.5', args }, p);
  if (!r.ok) throw new Error(r.error.message);
  return r.argv.slice(0, r.argv.indexOf('--'));
}

function errorOf(args: unknown, p?: Policy) {
  const r = validateScanRequest({ target: '10.0.0.5', args }, p);
  if (r.ok) throw new Error(`accepted: ${r.argv.join(' ')}`);
  return r.error;
}

describe('canonical argv', () => {
  it('adds the defaults where absent, -n always, every option in grammar order', () => {
    expect(optionsOf('')).toEqual(['--top-ports', '1000', '-Pn', '-n', '-T4', '--max-parallelism', '10']);
    expect(optionsOf('-sV')).toEqual(['-sV', '--top-ports', '1000', '-Pn', '-n', '-T4', '--max-parallelism', '10']);
    expect(optionsOf('--reason -sV')).toEqual(optionsOf('-sV --reason'));
  });

  it('leaves out each default the user chose', () => {
    expect(optionsOf('-T2 --max-parallelism 4 -PS22,80 -p 22')).toEqual([
      '-p',
      '22',
      '-PS22,80',
      '-n',
      '-T2',
      '--max-parallelism',
      '4',
    ]);
    expect(optionsOf('-sn')).toEqual(['-sn', '-n', '-T4', '--max-parallelism', '10']);
    expect(optionsOf('-F')).toEqual(['-F', '-Pn', '-n', '-T4', '--max-parallelism', '10']);
  });

  it('raises the default parallelism cap to a higher --min-parallelism, so the runner agrees', () => {
    const r = validateScanRequest({ target: '127.0.0.1', args: '--min-parallelism 50' });
    expect(r.ok && r.argv.join(' ')).toContain('--max-parallelism 50');
    expect(r.ok && revalidateArgv(r.argv).ok).toBe(true);
  });

  it('treats --flag=value and --flag value as the same option with the same check', () => {
    expect(optionsOf('--top-ports=50')).toEqual(optionsOf('--top-ports 50'));
    expect(optionsOf(['--max-retries=3'])).toEqual(optionsOf(['--max-retries', '3']));
    expect(errorOf('--top-ports=0').message).toBe(errorOf('--top-ports 0').message);
    expect(errorOf('--script=vuln').message).toBe(errorOf('--script vuln').message);
  });

  it('accepts -p with the value glued on, and -p- for all ports', () => {
    expect(optionsOf('-p80,443')).toEqual(optionsOf('-p 80,443'));
    expect(optionsOf('-p -')).toContain('-p-');
  });

  it('splits strings as a shell would without running one', () => {
    expect(optionsOf(`--script 'http-title,ssl-cert' -p "22"`)).toEqual(
      optionsOf('--script http-title,ssl-cert -p 22'),
    );
    expect(errorOf(`--script 'http-title`).message).toMatch(/could not be split/);
    expect(errorOf('-p 22\\').message).toMatch(/could not be split/);
  });

  it('spells -sC, -A and script categories as one explicit sorted list of catalog names', () => {
    const sc = optionsOf('-sC');
    expect(sc).not.toContain('-sC');
    const list = sc[sc.indexOf('--script') + 1]!.split(',');
    expect(list).toEqual([...list].sort());
    expect(list).toContain('http-title');
    expect(list.every((n) => CATALOG.get(n)?.class === 'target-only')).toBe(true);
    const mixed = optionsOf('--script http-title,safe -sC');
    expect(mixed.filter((t) => t === '--script')).toHaveLength(1);
    const a = optionsOf('-A', intrusive);
    expect(a).toEqual(expect.arrayContaining(['-sV', '-O', '--traceroute', '--script']));
    expect(a).not.toContain('-A');
    expect(a.filter((t) => t === '--script')).toHaveLength(1);
  });

  it('collapses a repeated flag with a warning', () => {
    const r = validateScanRequest({ target: '10.0.0.5', args: '-sV -sV' });
    expect(r.ok && r.argv.filter((t) => t === '-sV')).toHaveLength(1);
    expect(r.ok && r.warnings[0]).toMatch(/more than once/);
  });

  it('reports privilege needs of raw-socket scans', () => {
    for (const raw of ['-sS', '-sU', '-O', '-sA', '-sF', '-sN', '-sX', '-sW', '-sM', '--traceroute']) {
      const r = validateScanRequest({ target: '10.0.0.5', args: raw });
      expect(r.ok && r.needsPrivilege, raw).toBe(true);
    }
    const connect = validateScanRequest({ target: '10.0.0.5', args: '-sT -sV -sC' });
    expect(connect.ok && connect.needsPrivilege).toBe(false);
    // A script that opens raw sockets is run only when named, and then needs a privileged runner.
    const raw = validateScanRequest({ target: '10.0.0.5', args: '-sT --script qscan' });
    expect(raw.ok && raw.needsPrivilege).toBe(true);
    const safe = validateScanRequest({ target: '10.0.0.5', args: '--script safe' });
    expect(safe.ok && safe.argv.join(' ')).not.toMatch(/qscan|ipidseq/);
    expect(safe.ok && safe.warnings.join(' ')).toMatch(/need raw sockets/);
  });
});

describe('templates', () => {
  it('merge with user args: the user option replaces the template option of the same slot', () => {
    const r = validateScanRequest({ target: '10.0.0.5', template: 'quick', args: '-p 22 -T3' });
    expect(r.ok && r.argv).toEqual(['-p', '22', '-Pn', '-n', '-T3', '--max-parallelism', '10', '--', '10.0.0.5']);
    expect(r.ok && r.warnings.join(' ')).toMatch(/-p 22 replaces --top-ports 100 of template quick/);
  });

  it('still refuse conflicts the template cannot resolve', () => {
    const r = validateScanRequest({ target: '10.0.0.5', template: 'discovery', args: '-p 22' });
    expect(!r.ok && r.error.message).toMatch(/-sn .* cannot be combined with -p/);
  });
});

describe('value rules', () => {
  it.each([
    ['-p 1', true],
    ['-p 65535', true],
    ['-p 1-65535', true],
    ['-p 22,80,443,8000-8100', true],
    ['-p 0', false],
    ['-p 65536', false],
    ['-p 10-5', false],
    ['-p T:80', false],
    ['-p http', false],
    ['-p 80,', false],
    ['-p ,80', false],
    ['-p 080', false],
    ['-p 1--2', false],
    ['-p -80', false],
    ['--top-ports 1', true],
    ['--top-ports 65535', true],
    ['--top-ports 65536', false],
    ['--top-ports +5', false],
    ['--version-intensity 0', true],
    ['--version-intensity 9', true],
    ['--version-intensity 1e1', false],
    ['--max-retries 0', true],
    ['--max-retries 10', true],
    ['--max-retries 11', false],
    ['--min-rate 1', true],
    ['--max-rate 100000', true],
    ['--max-rate 100001', false],
    ['--min-rate 0', false],
    ['--min-rate 1.5', false],
    ['--max-parallelism 256', true],
    ['--max-parallelism 257', false],
    ['--host-timeout 1s', true],
    ['--host-timeout 999ms', false],
    ['--host-timeout 30', false],
    ['--host-timeout 5m', true],
    ['--host-timeout 2h', true],
    ['--host-timeout 5x', false],
    ['--scan-delay 60s', true],
    ['--scan-delay 61s', false],
    ['--scan-delay 1m', true],
    ['--scan-delay 500ms', true],
    ['--max-scan-delay 2m', false],
    ['--max-scan-delay 0ms', true],
    ['-T0', true],
    ['-T5', true],
    ['-T6', false],
    ['-T', false],
    ['-T 4', false],
  ])('%s → %s', (args, accepted) => {
    expect(validateScanRequest({ target: '10.0.0.5', args }).ok).toBe(accepted);
  });

  it('caps port items at maxPortRanges (the 255-byte token cap binds first at the default 100)', () => {
    const items = Array.from({ length: 6 }, (_, i) => String(i + 1)).join(',');
    expect(errorOf(`-p ${items}`, policy({ maxPortRanges: 5 })).message).toMatch(/6 port items, more than the 5/);
    expect(optionsOf(`-p ${items}`, policy({ maxPortRanges: 6 }))).toContain(items);
    const many = Array.from({ length: 101 }, (_, i) => String(i + 1)).join(',');
    expect(errorOf(`-p ${many}`, policy({ maxPortRanges: 1000 })).message).toMatch(/longer than 255 bytes/);
  });

  it('checks ping probe port lists the same way, without all-ports', () => {
    expect(optionsOf('-PS22,80 -PA443 -PU')).toEqual(expect.arrayContaining(['-PS22,80', '-PA443', '-PU']));
    expect(errorOf('-PS0').message).toMatch(/port 0/);
    expect(errorOf('-PS-').message).toMatch(/not a port/);
  });

  it('refuses min above max', () => {
    expect(errorOf('--min-rate 500 --max-rate 100').message).toMatch(/--min-rate 500 is above --max-rate 100/);
    expect(errorOf('--min-parallelism 20 --max-parallelism 10').message).toMatch(/above/);
  });
});

describe('grammar: exact spellings only', () => {
  it.each([
    ['--scr http-title', /abbreviation/],
    ['--top 10', /abbreviation/],
    ['-script http-title', /long option written with one dash/],
    ['-nA', /combines several short options/],
    ['-sVC', /Unknown/],
    ['-vvv', /combines several short options/],
    ['-i', /Unknown/],
    ['-m', /Unknown/],
    ['--yolo', /Unknown/],
    ['-P0', /Unknown/],
    ['--decoy 10.0.0.9', /Unknown/],
    ['--ports 80', /Unknown/],
    ['--open=yes', /takes no value/],
    ['-p=80', /glues "="/],
    ['-sV -- 10.0.0.9', /"--" is not allowed/],
    ['10.0.0.9', /Unexpected argument "10\.0\.0\.9"/],
    ['-sV web.lab.internal', /Unexpected argument/],
    ['-', /Unexpected argument/],
    ['-p --open', /-p needs a value/],
    ['--top-ports', /needs a value/],
    ['--script', /needs a value/],
  ])('%s is refused', (args, message) => {
    expect(errorOf(args).message).toMatch(message);
  });

  it.each([
    '-iL',
    '-iR',
    '-oN',
    '-oX',
    '-oG',
    '-oA',
    '-oS',
    '-oM',
    '--resume',
    '--datadir',
    '--servicedb',
    '--versiondb',
    '--stylesheet',
    '--excludefile',
    '--script-args-file',
    '-e',
    '-S',
    '--privileged',
    '--send-eth',
    '--proxies',
    '-sI',
    '--stats-every',
    '--dns-servers',
    '-d',
    '--packet-trace',
    '--unprivileged',
    '-b',
  ])('%s is always refused, even under the most open policy', (option) => {
    const open = policy({ allowIntrusive: true, allowEvasion: true });
    for (const args of [[option], [option, 'x'], [`${option}=x`], [`${option}x`]]) {
      expect(validateScanRequest({ target: '10.0.0.5', args }, open).ok, args.join(' ')).toBe(false);
    }
  });

  it('names the fix in the suggestion', () => {
    expect(errorOf('--scr http-title').recoverySuggestion).toBe('Write --script or --script-args or --script-timeout.');
    expect(errorOf('--top 10').recoverySuggestion).toBe('Write --top-ports.');
    expect(errorOf('-script http-title').recoverySuggestion).toBe('Write --script.');
    expect(errorOf('-nA').recoverySuggestion).toBe('Write them apart: -n -A.');
  });

  it('names the offending token and why in the message', () => {
    expect(errorOf('-iL /etc/passwd').message).toMatch(/-iL .*file/);
    expect(errorOf('-oX -').message).toMatch(/-oX is an output option/);
    expect(errorOf('-sV; rm -rf /').message).toMatch(/"-sV;" contains shell metacharacters/);
  });

  it('takes only printable ASCII and tokens up to 255 bytes', () => {
    expect(errorOf('-sV\t-p 80').message).toMatch(/control character U\+0009/);
    expect(errorOf(['-p', '80\u0000']).message).toMatch(/control character U\+0000/);
    expect(errorOf(['-p', '８０']).message).toMatch(/U\+FF18 FULLWIDTH FORM, which looks like "8"/);
    expect(errorOf(['-p', `${'1'.repeat(256)}`]).message).toMatch(/longer than 255 bytes/);
    expect(errorOf(['--script', `${'a'.repeat(16 * 1024 + 1)}`]).message).toMatch(/longer than 16384 bytes/);
    expect(errorOf(['-p', '']).message).toMatch(/empty argument/);
    expect(errorOf([42]).message).toMatch(/not a string/);
    expect(errorOf({ p: 80 }).message).toMatch(/string or an array/);
  });

  it('refuses options that exclude each other', () => {
    expect(errorOf('-sS -sT').message).toMatch(/-sS and -sT cannot be combined/);
    expect(errorOf('-p 80 --top-ports 10').message).toMatch(/cannot be combined/);
    expect(errorOf('-T3 -T4').message).toMatch(/cannot be combined/);
    expect(errorOf('-v -vv').message).toMatch(/cannot be combined/);
    expect(errorOf('-p 80 -p 443').message).toMatch(/given twice with different values/);
    expect(errorOf('-sn -sV').message).toMatch(/-sn .*-sV/);
    expect(errorOf('-sn -sS').message).toMatch(/-sn/);
  });
});

describe('gates', () => {
  it('gates -A and intrusive scripts behind allowIntrusive, naming who can enable it', () => {
    const a = errorOf('-A');
    expect(a.message).toMatch(/intrusive scans are disabled by policy/);
    expect(a.recoverySuggestion).toMatch(/admin.*allowIntrusive/);
    expect(errorOf('--script ssh-brute').message).toMatch(/ssh-brute is intrusive/);
    const list = optionsOf('--script ssh-brute,vuln', intrusive);
    const names = list[list.indexOf('--script') + 1]!.split(',');
    expect(names).toContain('ssh-brute');
    expect(names).toContain('smb-vuln-ms17-010');
    expect(errorOf('--script vuln').message).toMatch(/category vuln is intrusive/);
  });

  it('judges -A spelled out (-sV -O --traceroute with scripts) as -A, on the edge and on the runner', () => {
    const spelled = errorOf('-sV -O --traceroute -sC');
    expect(spelled.message).toMatch(/-A spelled out/);
    expect(spelled.details).toMatchObject({ gate: 'allowIntrusive' });
    // Each part alone, or three of the four, stays allowed.
    expect(optionsOf('-sV -O --traceroute')).toContain('--traceroute');
    expect(optionsOf('-sV -O -sC')).toContain('-O');
    // The runner sees the canonical argv of -A: allowed only with the intrusive policy on its side too.
    const canonicalA = validateScanRequest({ target: '10.0.0.5', args: '-A' }, intrusive);
    const canonicalSpelled = validateScanRequest({ target: '10.0.0.5', args: '-sC --traceroute -O -sV' }, intrusive);
    expect(canonicalA.ok && canonicalSpelled.ok && canonicalA.argv).toEqual(
      canonicalSpelled.ok && canonicalSpelled.argv,
    );
    expect(canonicalA.ok && revalidateArgv(canonicalA.argv, intrusive).ok).toBe(true);
    expect(canonicalA.ok && revalidateArgv(canonicalA.argv).ok).toBe(false);
  });

  it('gates every evasion option behind allowEvasion', () => {
    for (const args of [
      '-f',
      '--mtu 16',
      '-D 10.0.0.9',
      '-g 53',
      '--source-port 53',
      '--data-length 10',
      '--ttl 64',
      '--spoof-mac 0',
      '--badsum',
    ]) {
      expect(errorOf(args).message, args).toMatch(/evasion is disabled by policy/);
      const ok = validateScanRequest({ target: '10.0.0.5', args }, evasion);
      expect(ok.ok && ok.needsPrivilege, args).toBe(true);
    }
  });

  it('checks evasion values', () => {
    expect(errorOf('--mtu 12', evasion).message).toMatch(/multiple of 8/);
    expect(errorOf('--mtu 1504', evasion).message).toMatch(/outside/);
    expect(errorOf('--data-length 1401', evasion).message).toMatch(/outside/);
    expect(errorOf('--ttl 0', evasion).message).toMatch(/outside/);
    expect(errorOf('--spoof-mac Apple', evasion).message).toMatch(/not a MAC/);
    expect(optionsOf('--spoof-mac 02:AB:00:00:00:01', evasion)).toContain('02:ab:00:00:00:01');
    expect(errorOf('-g 53 --source-port 54', evasion).message).toMatch(/given twice with different values/);
    expect(optionsOf('-g 53 --source-port 53', evasion).filter((t) => t === '-g')).toHaveLength(1);
  });

  it('keeps decoys inside the allowed networks: at most 8, ME once, never RND or names', () => {
    expect(optionsOf('-D 10.0.0.9,ME,10.0.0.10', evasion)).toContain('10.0.0.9,ME,10.0.0.10');
    const nine = Array.from({ length: 9 }, (_, i) => `10.0.0.${i + 20}`).join(',');
    expect(errorOf(`-D ${nine}`, evasion).message).toMatch(/9 decoys/);
    expect(errorOf('-D ME,ME,10.0.0.9', evasion).message).toMatch(/ME appears more than once/);
    expect(errorOf('-D RND', evasion).message).toMatch(/RND/);
    expect(errorOf('-D decoy.lab.internal', evasion).message).toMatch(/not an address/);
    expect(errorOf('-D 10.0.0.0/24', evasion).message).toMatch(/not an address/);
    expect(errorOf('-D 127.1', evasion).message).toMatch(/not an address/);
    // nmap sends decoys in the targets' family: a decoy of the other family would be dropped or refused by nmap.
    const v6 = validateScanRequest({ target: 'fd00::5', args: '-D 10.0.0.9' }, evasion);
    expect(!v6.ok && v6.error.message).toMatch(/Decoy 10\.0\.0\.9 is not IPv6/);
    expect(errorOf('-D fd00::9', evasion).message).toMatch(/Decoy fd00::9 is not IPv4/);
  });
});
