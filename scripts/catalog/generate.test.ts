import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import factsFile from '../../shared/policy/catalog/nmap-facts.json' with { type: 'json' };
import { parseScriptDb, readSource } from './generate.ts';

describe('the catalog generator reads nmap as nmap does', () => {
  it('parses script.db entries, dotted names included', () => {
    const db = parseScriptDb(
      'Entry { filename = "http-robots.txt.nse", categories = { "default", "discovery", "safe", } }\n' +
        'Entry { filename = "ssl-heartbleed.nse", categories = { "vuln", "safe", } }\n',
    );
    expect(db.get('http-robots.txt')).toEqual(['default', 'discovery', 'safe']);
    expect(db.get('ssl-heartbleed')).toEqual(['safe', 'vuln']);
  });

  it('finds rules in every form scripts define them, and not local ones', () => {
    const source = [
      'local portrule = nil -- not a rule',
      'action, portrule, hostrule = mssql.Helper.InitScript(do_instance)',
      'if x then',
      '  prerule = function() return true end',
      'end',
      'function postrule(host) return false end',
      'local x = stdnse.get_script_args(SCRIPT_NAME .. ".timeout", "plain.key")',
      '-- @args demo.documented what it does',
      'local http = require "httpspider"',
      'if not nmap.is_privileged() then return end',
    ].join('\n');
    const facts = readSource('demo', source);
    expect(facts.rules).toEqual(['hostrule', 'portrule', 'postrule', 'prerule']);
    expect(facts.args).toEqual(['demo.documented', 'demo.timeout', 'plain.key']);
    expect(facts.libs).toEqual(['httpspider']);
    expect(facts.raw).toBe(true);
  });

  it("reproduces the committed facts from this machine's nmap (where its release is covered)", () => {
    const scripts = factsFile.scripts as Record<
      string,
      { rules: string[]; args: string[]; libs: string[]; raw: boolean }
    >;
    let compared = 0;
    for (const name of ['http-title', 'ms-sql-info', 'banner', 'http-robots.txt', 'smb-psexec']) {
      let source: string;
      try {
        source = readFileSync(`/usr/share/nmap/scripts/${name}.nse`, 'utf8');
      } catch {
        continue; // nmap installed elsewhere: the nmap-backed tests cover it
      }
      expect(readSource(name, source).rules, name).toEqual(scripts[name]!.rules);
      compared++;
    }
    expect(compared === 0 || compared === 5).toBe(true);
  });
});
