import { describe, expect, it } from 'vitest';
import { catalogReleaseFor, checkScripts, parseScriptHelp, type LocalScripts } from './nmap-scripts.ts';

describe('the runner against its own nmap', () => {
  it('reads nmap --script-help output, dotted names included', () => {
    const text =
      'Starting Nmap\n\nhttp-robots.txt\nCategories: default discovery safe\nhttps://nmap.org/…\n  Checks robots.txt\n\nssl-heartbleed\nCategories: vuln safe\n';
    expect([...parseScriptHelp(text)]).toEqual([
      ['http-robots.txt', ['default', 'discovery', 'safe']],
      ['ssl-heartbleed', ['safe', 'vuln']],
    ]);
  });

  it.each([
    ['7.93', '7.93', true],
    ['7.94SVN', '7.94', false],
    ['8.01', '7.99', false],
    ['7.80', '7.90', false],
    [null, '7.99', false],
  ] as const)('judges nmap %s by the catalog record for %s (covered: %s)', (version, release, covered) => {
    expect(catalogReleaseFor(version)).toEqual({ release, covered });
  });

  it('refuses scripts and -sV when it cannot list its scripts, and nothing else', () => {
    expect(checkScripts(['-sV', '--', '127.0.0.1'], undefined, false)?.message).toMatch(
      /could not list its nmap's scripts/,
    );
    expect(checkScripts(['-sT', '--', '127.0.0.1'], undefined, false)).toBeUndefined();
    const local: LocalScripts = {
      version: '7.93',
      categories: new Map([['http-title', ['default', 'discovery', 'safe']]]),
    };
    expect(checkScripts(['--script', 'http-title', '--', '127.0.0.1'], local, false)).toBeUndefined();
    expect(checkScripts(['--script', 'ssl-cert', '--', '127.0.0.1'], local, false)?.message).toMatch(
      /does not ship ssl-cert/,
    );
  });
});
