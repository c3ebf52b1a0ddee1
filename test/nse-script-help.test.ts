import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { catalogReleaseFor, parseScriptHelp, readLocalScripts } from '../runner/nmap-scripts.ts';
import {
  CATALOG,
  categoriesAt,
  classAllowed,
  resolvePolicy,
  validateScanRequest,
  type Policy,
} from '../shared/policy/index.ts';

/**
 * What the canonical --script value runs, asked of the real nmap: `nmap --script-help <value>` expands it as a
 * scan would and sends no packets. For script selections drawn at random (names, categories, -sC, -A,
 * templates), every script nmap would run must be in the catalog, of a class the policy allows, tagged by this
 * nmap as the catalog records, and exactly the list the edge wrote.
 */
const run = promisify(execFile);
const local = await readLocalScripts('nmap', null);
const version = /Nmap version ([0-9.]+)/.exec((await run('nmap', ['--version'])).stdout)?.[1] ?? null;
const { release } = catalogReleaseFor(version);
const shipped = [...CATALOG.keys()].filter((n) => local?.categories.has(n));

const policies: Array<[string, Policy]> = [false, true].map((allowIntrusive) => {
  const r = resolvePolicy({ allowIntrusive });
  if (!r.ok) throw new Error('policy');
  return [allowIntrusive ? 'intrusive' : 'default', r.policy];
});

/** Script items: mostly names this policy allows (so many requests pass), some of any class, and categories. */
function selection(policy: Policy) {
  const allowed = shipped.filter((n) => classAllowed(CATALOG.get(n)!.class, policy.allowIntrusive));
  const item = fc.oneof(
    { arbitrary: fc.constantFrom(...allowed), weight: 4 },
    { arbitrary: fc.constantFrom(...shipped), weight: 1 },
    {
      arbitrary: fc.constantFrom(
        'default',
        'safe',
        'discovery',
        'version',
        'auth',
        'vuln',
        'intrusive',
        'brute',
        'exploit',
        'external',
        'broadcast',
      ),
      weight: 2,
    },
  );
  return fc.record({
    items: fc.array(item, { minLength: 0, maxLength: 4 }),
    flags: fc.subarray(['-sC', '-A', '-sV']),
    template: fc.option(fc.constantFrom('script', 'thorough', 'quick'), { nil: undefined }),
  });
}

async function scriptHelp(value: string): Promise<Map<string, string[]>> {
  const { stdout } = await run('nmap', ['--script-help', value], { maxBuffer: 32 * 1024 * 1024, timeout: 120_000 });
  return parseScriptHelp(stdout);
}

describe.each(policies)('canonical --script values, expanded by nmap itself (%s policy)', (_name, policy) => {
  it('run only catalog scripts the policy allows, exactly as listed, tagged as recorded', async () => {
    expect(local, 'nmap --script-help all must work on this machine').toBeDefined();
    const samples = fc.sample(selection(policy), { numRuns: 40, seed: policy.allowIntrusive ? 2 : 1 });
    const lists: string[][] = [];
    for (const s of samples) {
      const args = [...s.flags, ...(s.items.length > 0 ? ['--script', s.items.join(',')] : [])];
      const v = validateScanRequest({ target: '127.0.0.1', args, ...(s.template && { template: s.template }) }, policy);
      if (!v.ok) continue;
      const at = v.argv.indexOf('--script');
      if (at < 0) continue;
      // Items are drawn from this nmap's scripts and expansions hold only scripts every covered release ships.
      lists.push(v.argv[at + 1]!.split(','));
    }
    // Two nmap processes at a time: each spends its time loading Lua, on its own core.
    let checked = 0;
    for (let i = 0; i < lists.length; i += 2) {
      const pair = lists.slice(i, i + 2);
      const answers = await Promise.all(pair.map((listed) => scriptHelp(listed.join(','))));
      pair.forEach((listed, j) => {
        const ran = answers[j]!;
        expect([...ran.keys()].sort()).toEqual(listed);
        for (const [name, categories] of ran) {
          const entry = CATALOG.get(name);
          expect(entry && classAllowed(entry.class, policy.allowIntrusive), name).toBe(true);
          expect(categories, name).toEqual([...(categoriesAt(entry!.facts, release) ?? [])].sort());
        }
        checked++;
      });
    }
    expect(checked).toBeGreaterThan(15);
  }, 300_000);
});

describe('the catalog against this nmap', () => {
  it('knows every script this nmap ships, and this nmap ships every script the catalog records for its release', () => {
    const recorded = [...CATALOG.values()]
      .filter((s) => categoriesAt(s.facts, release) !== undefined)
      .map((s) => s.name);
    expect(recorded.filter((n) => !local!.categories.has(n))).toEqual([]);
  });

  it('records every script this nmap ships, with the categories its script.db gives', () => {
    for (const [name, categories] of local!.categories) {
      const entry = CATALOG.get(name);
      expect(entry, `${name} is missing from the catalog`).toBeDefined();
      expect(categories, name).toEqual([...(categoriesAt(entry!.facts, release) ?? [])].sort());
    }
  });
});
