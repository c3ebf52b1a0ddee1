import { describe, expect, it } from 'vitest';
import { buildScriptSpec, INTRUSIVE_SCRIPTS, parseScriptArgs, parseScriptSpec, SAFE_SCRIPTS } from './scripts.ts';

describe('script selection', () => {
  it('splits names from categories and builds the canonical spec', () => {
    const picked = parseScriptSpec('http-title,safe,ssl-cert,default,safe', false);
    expect(picked).toEqual({ names: ['http-title', 'ssl-cert'], categories: ['safe', 'default'] });
    expect(buildScriptSpec(picked as never)).toBe('http-title,ssl-cert,(safe or default) and not (external or broadcast)');
  });

  it('reads back its own canonical spec unchanged', () => {
    const spec = 'ssh-hostkey,(discovery or version) and not (external or broadcast)';
    const picked = parseScriptSpec(spec, false);
    expect(buildScriptSpec(picked as never)).toBe(spec);
  });

  it.each([
    ['/tmp/x.nse', /path/],
    ['x.nse', /path/],
    ['../x', /path/],
    ['http-*', /glob/],
    ['http-?', /glob/],
    ['+http-title', /forces/],
    ['default or vuln', /boolean expression|not a script name/],
    ['not intrusive', /boolean expression|not a script name/],
    ['(default) and not (external)', /boolean expression/],
    ['(vuln) and not (external or broadcast)', /intrusive/],
    ['(http-title) and not (external or broadcast)', /not a category|boolean expression/],
    ['(ssh-hostkey) and not (external or broadcast)', /boolean expression/],
    ['(nbstat) and not (external or broadcast)', /not a category/],
    ['HTTP-TITLE', /not lower-case/],
    ['Safe', /not lower-case/],
    ['broadcast', /not on the allowlist/],
    ['external', /not on the allowlist/],
    ['auth', /not on the allowlist/],
    ['all', /not on the allowlist/],
    ['http-title,', /empty item/],
    ['', /empty script list/],
    ['dns-brute', /intrusive/],
    ['oracle-sid-brute', /intrusive/],
  ])('refuses %s', (spec, problem) => {
    const picked = parseScriptSpec(spec, false);
    expect('problem' in picked && picked.problem).toMatch(problem);
  });

  it('allows intrusive categories and scripts only when the policy does', () => {
    for (const item of ['vuln', 'exploit', 'intrusive', 'brute', 'dos', 'ssl-heartbleed', 'smb-vuln-ms17-010']) {
      expect('problem' in parseScriptSpec(item, false), item).toBe(true);
      expect('problem' in parseScriptSpec(item, true), item).toBe(false);
    }
  });

  it('keeps the safe and intrusive lists apart', () => {
    for (const name of SAFE_SCRIPTS) expect(INTRUSIVE_SCRIPTS.has(name)).toBe(false);
  });
});

describe('script arguments', () => {
  it('accepts plain key=value pairs', () => {
    expect(parseScriptArgs('http.useragent=scangate,smbdomain=LAB')).toBe('http.useragent=scangate,smbdomain=LAB');
    expect(parseScriptArgs('http.url=/index.html')).toBe('http.url=/index.html');
  });

  it.each([
    ['userdb=/etc/passwd', /file, path, directory or database/],
    ['passdb=x', /database/],
    ['brute.credfile=x', /file/],
    ['http-fetch.destination=x', /destination/],
    ['destination=x', /destination/],
    ['newtargets=1', /adds targets/],
    ['newtargets', /not a key=value/],
    ['smb-ls.path=x', /path/],
    ['datadir=x', /directory/],
    ['Key=x', /not a key=value/],
    ['k={a=1}', /not a key=value/],
    ['k=a b', /not a key=value/],
    ['k="x"', /not a key=value/],
    ['k=', /not a key=value/],
    ['=x', /not a key=value/],
  ])('refuses %s', (args, problem) => {
    const parsed = parseScriptArgs(args);
    expect(typeof parsed !== 'string' && parsed.problem).toMatch(problem);
  });
});
