import { describe, expect, it } from 'vitest';
import factsFile from './catalog/nmap-facts.json' with { type: 'json' };
import reviewFile from './catalog/review.json' with { type: 'json' };
import { atLeast, CATALOG, CATALOG_RELEASES, categoryMembers, floorClass, type ScriptReview } from './catalog/index.ts';
import { resolvePolicy, validateScanRequest, type Policy } from './index.ts';
import { buildScriptSpec, emptySelection, parseScriptSpec } from './scripts.ts';

const reviews = reviewFile as Record<string, ScriptReview>;
const intrusive = (() => {
  const r = resolvePolicy({ allowIntrusive: true });
  if (!r.ok) throw new Error('policy');
  return r.policy;
})();

function scriptsOf(args: string, policy?: Policy, target = '10.0.0.5'): string[] {
  const r = validateScanRequest({ target, args }, policy);
  if (!r.ok) throw new Error(r.error.message);
  const at = r.argv.indexOf('--script');
  return at < 0 ? [] : r.argv[at + 1]!.split(',');
}

function refusal(args: string, policy?: Policy): string {
  const r = validateScanRequest({ target: '10.0.0.5', args }, policy);
  if (r.ok) throw new Error(`accepted: ${r.argv.join(' ')}`);
  return r.error.message;
}

describe('the script catalog', () => {
  it('covers every script of nmap 7.90 through 7.99, each reviewed by a person', () => {
    expect(CATALOG_RELEASES[0]).toBe('7.90');
    expect(CATALOG_RELEASES.at(-1)).toBe('7.99');
    const names = Object.keys(factsFile.scripts);
    expect(names.length).toBeGreaterThan(600);
    expect(Object.keys(reviews).sort()).toEqual([...names].sort());
    const unreviewed = names.filter((n) => !reviews[n]!.why || reviews[n]!.why === 'UNREVIEWED');
    expect(unreviewed).toEqual([]);
  });

  it('never lets a review be looser than what nmap itself says of a script', () => {
    const looser = [...CATALOG.values()].filter((s) => !atLeast(reviews[s.name]!.class, floorClass(s.name, s.facts)));
    expect(looser.map((s) => `${s.name}: ${reviews[s.name]!.class}`)).toEqual([]);
    // nmap's own attack tags make a script intrusive at least; vuln only when it is not also safe.
    for (const s of CATALOG.values()) {
      const tags = new Set(Object.values(s.facts.categories).flat());
      if (['intrusive', 'exploit', 'dos', 'brute', 'malware', 'fuzzer'].some((t) => tags.has(t)))
        expect(s.class, s.name).not.toBe('target-only');
      if (tags.has('vuln') && !tags.has('safe')) expect(s.class, s.name).not.toBe('target-only');
      if (
        tags.has('external') ||
        tags.has('broadcast') ||
        s.name.startsWith('broadcast-') ||
        s.name.startsWith('targets-')
      ) {
        expect(['off-target', 'no-target'], s.name).toContain(s.class);
      }
    }
  });

  it('gives every allowed argument a dotted key and a rule that cannot carry a path', () => {
    for (const s of CATALOG.values()) {
      for (const [key, rule] of Object.entries(s.args)) {
        expect(key, s.name).toMatch(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+$/);
        // Keys that name places take no value at all; counts of them (maxfiles) are numbers.
        if (rule.type !== 'int')
          expect(key.slice(key.lastIndexOf('.') + 1), `${s.name} ${key}`).not.toMatch(
            /file|path|dir|\.out$|save|server|interface|proxy|config|url$|cmd|command|query/,
          );
        if (rule.type === 'int') expect(rule.min <= rule.max, `${s.name} ${key}`).toBe(true);
        if (rule.type === 'enum')
          for (const v of rule.values) expect(v, `${s.name} ${key}`).toMatch(/^[A-Za-z0-9._:@-]+$/);
      }
      if (s.class === 'off-target' || s.class === 'no-target') expect(s.args, s.name).toEqual({});
    }
  });

  it('records the scripts the containment review found leaving the targets as never allowed', () => {
    // Seen on loopback or read in nmap's source: links and redirects to other hosts, public services, FTP bounce.
    for (const name of [
      'http-referer-checker',
      'http-feed',
      'http-affiliate-id',
      'ftp-bounce',
      'http-open-proxy',
      'dns-recursion',
      'http-grep',
      'http-cisco-anyconnect',
    ]) {
      expect(CATALOG.get(name)?.class, name).toBe('off-target');
    }
    for (const name of ['broadcast-ping', 'targets-asn', 'creds-summary'])
      expect(CATALOG.get(name)?.class, name).toMatch(/off-target|no-target/);
  });
});

describe('script selection', () => {
  it('expands categories, -sC and -A into explicit sorted names the policy allows, with a warning', () => {
    for (const category of ['safe', 'discovery', 'default', 'version']) {
      const r = validateScanRequest({ target: '10.0.0.5', args: `--script ${category}` });
      if (!r.ok) throw new Error(r.error.message);
      const names = r.argv[r.argv.indexOf('--script') + 1]!.split(',');
      expect(names).toEqual([...names].sort());
      for (const n of names) expect(CATALOG.get(n)?.class, `${category}: ${n}`).toBe('target-only');
      expect(names.length).toBeGreaterThan(10);
    }
    const safe = validateScanRequest({ target: '10.0.0.5', args: '--script safe' });
    expect(safe.ok && safe.warnings.join('\n')).toMatch(
      /--script safe runs \d+ scripts; \d+ left out \(.*reach hosts other than the targets/,
    );
  });

  it('keeps what nmap tags intrusive inside safe and discovery out of the default policy', () => {
    const expanded = new Set([...scriptsOf('--script safe'), ...scriptsOf('--script discovery'), ...scriptsOf('-sC')]);
    for (const name of [
      'ssl-heartbleed',
      'smb-vuln-ms17-010',
      'dns-brute',
      'http-referer-checker',
      'http-feed',
      'http-affiliate-id',
      'ftp-bounce',
    ]) {
      expect(expanded.has(name), name).toBe(false);
    }
    const withConsent = new Set(scriptsOf('--script safe,discovery', intrusive));
    for (const name of ['http-referer-checker', 'http-feed', 'http-affiliate-id', 'ftp-bounce', 'dns-brute'])
      expect(withConsent.has(name), name).toBe(false);
  });

  it('refuses off-target and targetless scripts by name under every policy, with the reason', () => {
    for (const policy of [undefined, intrusive]) {
      expect(refusal('--script http-referer-checker', policy)).toMatch(/reaches hosts other than the targets/);
      expect(refusal('--script broadcast-ping', policy)).toMatch(/runs without a target/);
      expect(refusal('--script external', policy)).toMatch(/category external has no script this policy allows/);
    }
  });

  it('gates intrusive scripts and attack categories behind allowIntrusive', () => {
    expect(refusal('--script ssl-heartbleed')).toMatch(/ssl-heartbleed is intrusive/);
    expect(refusal('--script vuln')).toMatch(/category vuln is intrusive/);
    expect(scriptsOf('--script ssl-heartbleed', intrusive)).toEqual(['ssl-heartbleed']);
    // A vuln check nmap also calls safe may be named on its own.
    const safeVuln = categoryMembers('vuln').stable.find((s) => s.class === 'target-only')!;
    expect(scriptsOf(`--script ${safeVuln.name}`)).toEqual([safeVuln.name]);
  });

  it('reads its own canonical list back unchanged', () => {
    const selection = emptySelection();
    expect(parseScriptSpec('safe,http-title', false, selection)).toBeUndefined();
    const canonical = buildScriptSpec(selection);
    const again = emptySelection();
    expect(parseScriptSpec(canonical, false, again)).toBeUndefined();
    expect(buildScriptSpec(again)).toBe(canonical);
  });

  it.each([
    ['/tmp/x.nse', /path/],
    ['x.nse', /path/],
    ['../x', /path/],
    ['http-*', /glob/],
    ['+http-title', /forces/],
    ['default or vuln', /boolean expression/],
    ['not intrusive', /boolean expression/],
    ['(default) and not (external or broadcast)', /boolean expression/],
    ['HTTP-TITLE', /not lower-case/],
    ['all', /every script/],
    ['my-own-script', /not in scangate's catalog/],
    ['http-titel', /not in scangate's catalog/],
    ['http-title,', /empty item/],
    ['', /empty script list/],
  ])('refuses %s', (spec, problem) => {
    const problemFound = parseScriptSpec(spec, true, emptySelection());
    expect(problemFound?.problem).toMatch(problem);
  });
});

describe('script arguments by allowlist', () => {
  const open = intrusive;
  const ok = (args: string, target: string | string[] = '10.0.0.5') => {
    const r = validateScanRequest({ target, args }, open);
    if (!r.ok) throw new Error(r.error.message);
    return r.argv[r.argv.indexOf('--script-args') + 1];
  };
  const no = (args: string, target: string | string[] = '10.0.0.5') => {
    const r = validateScanRequest({ target, args }, open);
    if (r.ok) throw new Error(`accepted: ${r.argv.join(' ')}`);
    return `${r.error.message} | ${r.error.recoverySuggestion}`;
  };

  it('accepts global keys and the keys a selected script lists, each by its rule, sorted', () => {
    expect(ok('--script http-title --script-args vulns.showall=1,http.useragent=scangate')).toBe(
      'http.useragent=scangate,vulns.showall=1',
    );
    const withInt = [...CATALOG.values()].find(
      (s) => s.class !== 'off-target' && Object.values(s.args).some((r) => r.type === 'int'),
    )!;
    const [key, rule] = Object.entries(withInt.args).find(([, r]) => r.type === 'int')! as [
      string,
      { min: number; max: number },
    ];
    expect(ok(`--script ${withInt.name} --script-args ${key}=${rule.max}`)).toBe(`${key}=${rule.max}`);
    expect(no(`--script ${withInt.name} --script-args ${key}=${rule.max + 1}`)).toMatch(
      new RegExp(`${key} takes an integer ${rule.min}–${rule.max}`),
    );
    expect(no(`--script ${withInt.name} --script-args ${key}=abc`)).toMatch(/takes an integer/);
  });

  it('checks enum and word rules', () => {
    expect(ok('--script http-title --script-args vulns.showall=true')).toBe('vulns.showall=true');
    expect(no('--script http-title --script-args vulns.showall=yes')).toMatch(/vulns\.showall takes one of 1, true/);
    expect(no(`--script http-title --script-args http.useragent=${'a'.repeat(65)}`)).toMatch(/takes a word/);
  });

  it('takes a host only when it is one of the scan targets', () => {
    const withTarget = [...CATALOG.values()].find(
      (s) => s.class !== 'off-target' && Object.values(s.args).some((r) => r.type === 'target'),
    );
    if (!withTarget) return expect(Object.values(CATALOG).length).toBe(0);
    const key = Object.entries(withTarget.args).find(([, r]) => r.type === 'target')![0];
    expect(ok(`--script ${withTarget.name} --script-args ${key}=10.0.0.7`, '10.0.0.0/24')).toBe(`${key}=10.0.0.7`);
    expect(no(`--script ${withTarget.name} --script-args ${key}=10.0.1.7`, '10.0.0.0/24')).toMatch(
      /among this scan's targets/,
    );
    expect(no(`--script ${withTarget.name} --script-args ${key}=scanme.nmap.org`, '10.0.0.0/24')).toMatch(
      /among this scan's targets/,
    );
  });

  it.each([
    // The escapes the containment review found: output files, file reads, Lua loading, other hosts, interfaces.
    ['--script ldap-search --script-args ldap.savesearch=x', /not one scangate lets|not on the allowlist/],
    ['--script http-title --script-args http-title.url=/admin', /values may not .* "\/"/],
    ['--script smb-os-discovery --script-args config=x', /no script name before it/],
    ['--script smb-psexec --script-args x=1', /smb-psexec reaches hosts other than the targets/],
    ['--script smb-psexec --script-args smb-psexec.config=x', /not one scangate lets smb-psexec take|reaches hosts/],
    ['--script dns-brute --script-args dns-brute.domain=lab', /reaches hosts/],
    ['--script http-title --script-args http-title.url=x', /not one scangate lets http-title take/],
    ['--script http-title --script-args userdb=/etc/passwd', /values may not/],
    ['--script http-title --script-args newtargets=1', /no script name before it/],
    ['--script http-title --script-args max-newtargets=5', /no script name before it/],
    ['--script http-title --script-args interface.name=eth0', /not on the allowlist/],
    [
      '--script http-title --script-args ssh-hostkey.known-hosts-path=x',
      /for ssh-hostkey, which this scan does not run/,
    ],
    ['--script http-title --script-args k={a=1}', /values may not/],
    ['--script http-title --script-args http.useragent=', /values may not be empty/],
    ['--script http-title --script-args =x', /not a key=value pair/],
    ['--script http-title --script-args http.useragent=a,http.useragent=b', /given twice/],
    ['--script-args http.useragent=x', /no script is selected/],
  ])('refuses %s', (args, problem) => {
    expect(no(args)).toMatch(problem);
  });

  it('names what a script may take when it refuses a key', () => {
    const withArgs = [...CATALOG.values()].find((s) => s.class === 'target-only' && Object.keys(s.args).length > 0)!;
    const message = no(`--script ${withArgs.name} --script-args ${withArgs.name}.nonsense=1`);
    expect(message).toContain(Object.keys(withArgs.args)[0]!);
  });

  it('stays behind the intrusive gate', () => {
    const r = validateScanRequest({ target: '10.0.0.5', args: '--script http-title --script-args http.useragent=x' });
    expect(!r.ok && r.error.message).toMatch(/--script-args is accepted only when intrusive scans are enabled/);
  });
});
