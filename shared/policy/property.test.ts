import fc from 'fast-check';
import ipaddr from 'ipaddr.js';
import { split as shellSplit } from 'shlex';
import { describe, expect, it } from 'vitest';
import { tokenize } from './args.ts';
import {
  CATALOG,
  classAllowed,
  DEFAULT_POLICY,
  FORBIDDEN,
  OPTIONS,
  resolvePolicy,
  revalidateArgv,
  validateScanRequest,
  type Policy,
} from './index.ts';

const RUNS = Number(process.env.PROPERTY_RUNS ?? 3000);
/** At least this share of generated requests must be accepted, or the 'accepted ⇒ safe' checks prove little. */
const MIN_ACCEPTED = RUNS / 10;
const open = resolvePolicy({ allowIntrusive: true, allowEvasion: true });
if (!open.ok) throw new Error('policy');
const policies: Array<[string, Policy | undefined]> = [
  ['default', undefined],
  ['open', open.policy],
];

/** Tokens near the grammar: valid options and values, forbidden options, junk, shell syntax. */
const vocabulary = fc.constantFrom(
  ...OPTIONS.map((o) => o.name),
  ...FORBIDDEN.keys(),
  '80',
  '22,80,443',
  '1-1024',
  '-',
  '0',
  '65536',
  '10',
  '5m',
  '30s',
  '100',
  '9',
  '10.0.0.9',
  '10.0.0.9,ME',
  'RND',
  '8.8.8.8',
  'web.lab.internal',
  'http-title',
  'safe',
  'vuln',
  'default,http-title',
  '/etc/passwd',
  '../x',
  'http.useragent=x',
  'userdb=/etc/passwd',
  '02:00:00:00:00:01',
  '--',
  '-oX',
  '-p-',
  '-p80',
  '-PS22',
  '-T4',
  '--top-ports=100',
  '--script=http-title',
  '-sV;',
  '$(id)',
  '`id`',
  "'",
  '"',
  '\\',
  '-nA',
  '--scr',
  '-script',
  'discovery',
  'http-referer-checker',
  'ssl-heartbleed',
  'broadcast-ping',
  'dns-brute',
  'http.useragent=x,vulns.showall=1',
  'smb-psexec.config=x',
  'newtargets=1',
  '-privileged',
  '--iL',
  '-iL/x',
  '--resum',
  '[::1]',
  '10.0.0.5:80',
);

/** Option-and-value pieces that are valid on their own under some policy, so combinations often pass. */
const validPiece = fc.constantFrom(
  '-sV',
  '-sT',
  '-sS',
  '-sU',
  '-sn',
  '-sC',
  '-O',
  '-A',
  '-Pn',
  '-n',
  '-F',
  '-r',
  '--open',
  '--reason',
  '-v',
  '-vv',
  '-p 80',
  '-p 22,80,443',
  '-p 1-1024',
  '-p-',
  '-p80',
  '--top-ports 100',
  '--top-ports=20',
  '-T3',
  '-T4',
  '-T5',
  '--max-retries 2',
  '--min-rate 100',
  '--max-rate 1000',
  '--max-parallelism 5',
  '--host-timeout 5m',
  '--scan-delay 1s',
  '--version-intensity 5',
  '--version-light',
  '--script http-title',
  '--script safe,http-headers',
  '--script=default',
  '--script vuln',
  '--script-args http.useragent=x',
  '-PS22,80',
  '-PE',
  '-f',
  '--mtu 16',
  '--script discovery',
  '--script version,ssl-cert',
  '--script http-referer-checker',
  '--script ssl-heartbleed',
  '--script-args vulns.showall=1',
  '--min-parallelism 50',
  '-v -v',
  '--traceroute',
  '-D 10.0.0.9,ME',
  '-g 53',
  '--ttl 64',
  '--spoof-mac 0',
  '--badsum',
  '--data-length 20',
  '-6',
);
const piece = fc.oneof({ arbitrary: validPiece, weight: 6 }, { arbitrary: vocabulary, weight: 1 });
const argsStrings = fc.oneof(
  { arbitrary: fc.array(piece, { maxLength: 5 }).map((pieces) => pieces.join(' ')), weight: 6 },
  { arbitrary: fc.string({ maxLength: 60 }), weight: 1 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 40 }), weight: 1 },
);
const argsArrays = fc.oneof(
  { arbitrary: fc.array(piece, { maxLength: 5 }).map((pieces) => pieces.flatMap((p) => p.split(' '))), weight: 6 },
  { arbitrary: fc.array(fc.string({ maxLength: 12 }), { maxLength: 6 }), weight: 1 },
);

const octet = fc.integer({ min: 0, max: 255 });
const validTarget = fc.oneof(
  fc.tuple(octet, octet, octet).map(([a, b, c]) => `10.${a}.${b}.${c}`),
  fc.tuple(octet, fc.integer({ min: 22, max: 32 })).map(([a, p]) => `192.168.${a}.0/${Math.max(p, 24)}`),
  fc.tuple(octet, octet).map(([a, b]) => `127.${a}.${b}.1`),
  fc.stringMatching(/^[a-z][a-z0-9]{0,8}$/).map((l) => `${l}.lab.internal`),
  fc.constantFrom('::1', 'fd00::1', 'fd12:3456::/120'),
);
const targetItem = fc.oneof(
  { arbitrary: validTarget, weight: 6 },
  {
    arbitrary: fc.constantFrom(
      '8.8.8.8',
      '127.1',
      '0x7f000001',
      '::ffff:10.0.0.1',
      '::ffff:8.8.8.8',
      'fe80::1%eth0',
      '10.0.0-5.1',
      '-iL',
      'evillab.internal',
      '',
      ' ',
      '10.0.0.5/0',
      '169.254.169.254',
      '10.0.0.0/21',
    ),
    weight: 1,
  },
  { arbitrary: fc.oneof(fc.ipV4(), fc.ipV6(), fc.domain(), fc.string({ maxLength: 30 })), weight: 1 },
);
const targets = fc.oneof(targetItem, fc.array(targetItem, { minLength: 0, maxLength: 4 }));
const template = fc.option(fc.constantFrom('quick', 'standard', 'thorough', 'discovery', 'version', 'script', 'nope'), {
  nil: undefined,
  freq: 3,
});

const SPELLINGS = new Set(OPTIONS.flatMap((o) => [o.name, ...(o.aliases ?? [])]));
const VALUE_TAKING = new Set(
  OPTIONS.filter((o) => !o.attached || o.attached === 'allowed')
    .filter((o) => o.value || o.name === '--script' || o.name === '--script-args')
    .map((o) => o.name),
);
const ATTACHED = OPTIONS.filter((o) => o.attached).map((o) => o.name);

/** An independent reading of an accepted argv: every option in the grammar, every value after its option. */
function checkAccepted(argv: string[], policy: Policy | undefined, targetValues: string[]): void {
  const dashes = argv.indexOf('--');
  expect(dashes).toBeGreaterThanOrEqual(0);
  expect(argv.lastIndexOf('--')).toBe(dashes);
  expect(argv.slice(dashes + 1)).toEqual(targetValues);
  const options = argv.slice(0, dashes);
  for (let i = 0; i < options.length; i++) {
    const token = options[i]!;
    const attached = ATTACHED.find((a) => token.startsWith(a) && token !== a);
    if (attached) continue;
    expect(SPELLINGS.has(token), `${token} in ${argv.join(' ')}`).toBe(true);
    expect(FORBIDDEN.has(token)).toBe(false);
    if (VALUE_TAKING.has(token)) {
      const value = options[++i]!;
      expect(value, `value of ${token}`).toBeDefined();
      expect(value.startsWith('/') || value.includes('..') || value.includes('\\')).toBe(false);
      if (token === '--script') expect(value).not.toMatch(/[*+/]|\.nse/);
    }
  }
  const effective: Policy = policy ?? DEFAULT_POLICY;
  const nets = effective.allowedNetworks.map((n) => ipaddr.parseCIDR(n));
  for (const t of targetValues) {
    if (/^[a-z0-9.-]+$/.test(t) && /[a-z]/.test(t) && !t.includes(':')) {
      expect(effective.allowedHostSuffixes.some((s) => t.endsWith(s) && t.length > s.length)).toBe(true);
      continue;
    }
    const [addr, prefix] = t.includes('/') ? ipaddr.parseCIDR(t) : [ipaddr.parse(t), t.includes(':') ? 128 : 32];
    expect(
      nets.some(([n, p]) => n.kind() === addr.kind() && p <= prefix && addr.match(n, p)),
      t,
    ).toBe(true);
  }
  expect(revalidateArgv(argv, policy).ok).toBe(true);
  // nmap never resolves a name; every script is named, in the catalog, and of a class this policy allows.
  expect(options).toContain('-n');
  const scripts = options.indexOf('--script');
  if (scripts >= 0) {
    for (const name of options[scripts + 1]!.split(',')) {
      const entry = CATALOG.get(name);
      expect(
        entry && classAllowed(entry.class, effective.allowIntrusive),
        `${name} under ${policy ? 'open' : 'default'}`,
      ).toBe(true);
    }
  }
  // A reordered canonical argv is refused: the runner accepts the canonical order only.
  const groups = optionGroups(options);
  if (groups.length > 1 && groups[0]!.join() !== groups[1]!.join()) {
    const swapped = [...groups[1]!, ...groups[0]!, ...groups.slice(2).flat(), ...argv.slice(dashes)];
    expect(revalidateArgv(swapped, policy).ok, swapped.join(' ')).toBe(false);
  }
}

/** Splits canonical options into [option, value?] groups. */
function optionGroups(options: string[]): string[][] {
  const groups: string[][] = [];
  for (let i = 0; i < options.length; i++) {
    groups.push(VALUE_TAKING.has(options[i]!) ? [options[i]!, options[++i]!] : [options[i]!]);
  }
  return groups;
}

describe.each(policies)('validateScanRequest properties (%s policy)', (_name, policy) => {
  it('never throws on anything at all', () => {
    fc.assert(
      fc.property(fc.anything(), (input) => {
        validateScanRequest(input, policy);
      }),
      { numRuns: RUNS },
    );
  });

  it('accepts only argv inside the grammar and the policy (string args)', () => {
    let accepted = 0;
    fc.assert(
      fc.property(targets, argsStrings, template, (target, args, tpl) => {
        const r = validateScanRequest({ target, args, template: tpl }, policy);
        if (!r.ok) {
          expect(r.error.type).toBe('validation_error');
          expect(r.error.message.length).toBeGreaterThan(0);
          return;
        }
        accepted++;
        checkAccepted(
          r.argv,
          policy,
          r.targets.map((t) => t.value),
        );
      }),
      { numRuns: RUNS },
    );
    expect(accepted).toBeGreaterThan(MIN_ACCEPTED);
    if (process.env.PROPERTY_RUNS) console.log(`accepted ${accepted} of ${RUNS}`);
  });

  it('accepts only argv inside the grammar and the policy (argv arrays)', () => {
    let accepted = 0;
    fc.assert(
      fc.property(targets, argsArrays, template, (target, args, tpl) => {
        const r = validateScanRequest({ target, args, template: tpl }, policy);
        if (!r.ok) return;
        accepted++;
        checkAccepted(
          r.argv,
          policy,
          r.targets.map((t) => t.value),
        );
      }),
      { numRuns: RUNS },
    );
    expect(accepted).toBeGreaterThan(MIN_ACCEPTED);
    if (process.env.PROPERTY_RUNS) console.log(`accepted ${accepted} of ${RUNS}`);
  });
});

describe('tokenize', () => {
  it('splits exactly as shlex does, also on the fast path', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: fc.constantFrom('a', '-', ' ', '1', '=', ',', "'", '"', '\\', '$', 'x'), maxLength: 30 }),
        (s) => {
          let expected: string[] | undefined;
          try {
            expected = shellSplit(s);
          } catch {
            expected = undefined;
          }
          const got = tokenize(s);
          if (expected === undefined) {
            expect(got.ok).toBe(false);
          } else if (expected.some((t) => t.length === 0 || /[^\x20-\x7e]/.test(t))) {
            // An empty quoted argument, or a control character made by $'\a'-style quoting, is refused.
            expect(got.ok).toBe(false);
          } else {
            expect(got.ok && got.tokens).toEqual(expected);
          }
        },
      ),
      { numRuns: RUNS },
    );
  });
});
