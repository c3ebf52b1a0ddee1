import type { ScanError } from '../errors/index.ts';
import { invalid, parseOptions, tokenize, type ParsedOption, type ParseContext } from './args.ts';
import type { OptionSpec } from './options.ts';
import { DEFAULT_POLICY, type Policy } from './policy.ts';
import { buildScriptSpec } from './scripts.ts';
import { compileTargetRules, parseTarget, parseTargets, type Target } from './targets.ts';
import { isTemplateName, TEMPLATE_NAMES, TEMPLATES, type TemplateName } from './templates.ts';

export interface ScanRequestInput {
  target: string | string[];
  args?: string | string[];
  template?: TemplateName;
}

export type ValidationResult =
  | {
      ok: true;
      /** Options (defaults first), then `--`, then the canonical targets. Never run through a shell. */
      argv: string[];
      targets: Target[];
      warnings: string[];
      /** The argv uses raw sockets: only a runner that reports itself privileged can run it. */
      needsPrivilege: boolean;
    }
  | { ok: false; error: ScanError };

const TEMPLATE_TOKENS = Object.fromEntries(
  TEMPLATE_NAMES.map((name) => [name, TEMPLATES[name].split(' ')]),
) as Record<TemplateName, string[]>;

/**
 * Checks a scan request against the policy and returns the canonical argv, or the first problem as a
 * ScanError whose message names the offending token and whose recoverySuggestion names the fix.
 * Never throws, whatever `input` is.
 */
export function validateScanRequest(input: unknown, policy: Policy = DEFAULT_POLICY): ValidationResult {
  try {
    return validate(input, policy);
  } catch (e) {
    // Every path above returns its own error; reaching here is a bug, reported rather than thrown.
    return invalid(`Internal validation failure: ${(e as Error)?.message ?? String(e)}`, 'Report this request to the scangate maintainers.');
  }
}

function validate(input: unknown, policy: Policy): ValidationResult {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return invalid('The scan request must be an object with a target', 'Send { "target": "10.0.0.5", "template": "quick" }.');
  }
  const { target, args, template } = input as Record<string, unknown>;
  if (template !== undefined && !isTemplateName(template)) {
    return invalid(
      `Unknown template ${JSON.stringify(template)}`,
      `Use one of: ${TEMPLATE_NAMES.join(', ')}; or leave template out and give args.`,
      { template },
    );
  }

  const rules = compileTargetRules(policy);
  const targets = parseTargets(target, rules);
  if (!targets.ok) return targets;
  const warnings = [...targets.warnings];

  const tokens = tokenize(args);
  if (!tokens.ok) return tokens;

  const ctx: ParseContext = {
    allowIntrusive: policy.allowIntrusive,
    allowEvasion: policy.allowEvasion,
    maxPortRanges: policy.maxPortRanges,
    isAllowedAddress: (text) => {
      const r = parseTarget(text, rules);
      return r.ok && r.target.kind === 'address';
    },
    scripts: { names: [], categories: [] },
    fromTemplate: true,
  };
  let options: ParsedOption[] = [];
  if (template !== undefined) {
    const parsed = parseOptions(TEMPLATE_TOKENS[template], ctx);
    if (!parsed.ok) return parsed;
    options = parsed.options;
  }
  ctx.fromTemplate = false;
  const user = parseOptions(tokens.tokens, ctx);
  if (!user.ok) return user;

  const merged = mergeOptions(options, user.options, template, warnings);
  if (!merged.ok) return merged;
  const conflict = findConflict(merged.options, targets.family);
  if (conflict) return conflict;

  const argv = canonicalArgv(merged.options, ctx, targets.family);
  for (const t of targets.targets) argv.push(t.value);
  return {
    ok: true,
    argv,
    targets: targets.targets,
    warnings,
    needsPrivilege: merged.options.some((o) => o.spec.privileged),
  };
}

function key(o: ParsedOption): string {
  return o.spec.slot ?? o.spec.name;
}

/**
 * Lays the user's options over the template's: a user option replaces the template's option of the same
 * name or slot (say, -p over --top-ports). Repeats of a flag collapse; a value option given twice with
 * different values is an error, since nmap would silently keep only the last.
 */
function mergeOptions(
  fromTemplate: ParsedOption[],
  fromUser: ParsedOption[],
  template: TemplateName | undefined,
  warnings: string[],
): { ok: true; options: ParsedOption[] } | { ok: false; error: ScanError } {
  const userKeys = new Set(fromUser.map(key));
  const kept = fromTemplate.filter((o) => {
    if (!userKeys.has(key(o))) return true;
    const by = fromUser.find((u) => key(u) === key(o))!;
    if (by.spec !== o.spec || by.value !== o.value) {
      warnings.push(`${by.given}${by.value ? ` ${by.value}` : ''} replaces ${o.spec.name}${o.value ? ` ${o.value}` : ''} of template ${template}`);
    }
    return false;
  });
  const options: ParsedOption[] = [...kept];
  for (const o of fromUser) {
    const same = options.find((p) => p.spec === o.spec);
    if (same) {
      if (same.value === o.value) {
        if (o.spec.name !== '--script') warnings.push(`${o.given} given more than once; used once`);
        continue;
      }
      return invalid(
        `${o.given} is given twice with different values (${same.value} and ${o.value})`,
        `Give ${o.spec.name} once${o.spec.name === '-p' ? ', listing every port in it (-p 22,80)' : ''}.`,
        { option: o.spec.name },
      );
    }
    options.push(o);
  }
  return { ok: true, options };
}

function findConflict(options: ParsedOption[], family: 4 | 6 | undefined): { ok: false; error: ScanError } | undefined {
  const bySlot = new Map<string, OptionSpec>();
  for (const o of options) {
    if (!o.spec.slot) continue;
    const other = bySlot.get(o.spec.slot);
    if (other && other !== o.spec) {
      return invalid(`${other.name} and ${o.spec.name} cannot be combined`, `Keep one of them; both set the ${SLOT_WORDS[o.spec.slot]}.`, {
        options: [other.name, o.spec.name],
      });
    }
    bySlot.set(o.spec.slot, o.spec);
  }
  if (options.some((o) => o.spec.name === '-sn')) {
    const scan = options.find((o) => o.spec.portScan);
    if (scan) {
      return invalid(`-sn (host discovery only) cannot be combined with ${scan.given}`, `Drop -sn to scan ports, or drop ${scan.given}.`, {
        options: ['-sn', scan.spec.name],
      });
    }
  }
  const number = (name: string) => {
    const v = options.find((o) => o.spec.name === name)?.value;
    return v === undefined ? undefined : Number(v);
  };
  for (const [low, high] of [['--min-rate', '--max-rate'], ['--min-parallelism', '--max-parallelism']] as const) {
    const l = number(low);
    const h = number(high);
    if (l !== undefined && h !== undefined && l > h) {
      return invalid(`${low} ${l} is above ${high} ${h}`, `Make ${low} at most ${high}.`, { options: [low, high] });
    }
  }
  if (family === 4 && options.some((o) => o.spec.name === '-6')) {
    return invalid('-6 is given but the targets are IPv4', 'Drop -6; it is added by itself for IPv6 targets.', { option: '-6' });
  }
  return undefined;
}

const SLOT_WORDS: Record<NonNullable<OptionSpec['slot']>, string> = {
  ports: 'ports to scan',
  timing: 'timing template',
  tcpScan: 'TCP scan type',
  verbosity: 'verbosity',
  versionIntensity: 'version intensity',
  sourcePort: 'source port',
};

/**
 * Defaults where absent (-T4, --max-parallelism 10, -Pn unless discovery is chosen or -sn, --top-ports 1000
 * unless ports are chosen or -sn, -6 for IPv6), then the options in the order given with every script
 * choice folded into one --script, then `--`.
 */
function canonicalArgv(options: ParsedOption[], ctx: ParseContext, family: 4 | 6 | undefined): string[] {
  const has = (test: (s: OptionSpec) => boolean) => options.some((o) => test(o.spec));
  const pingOnly = has((s) => s.name === '-sn');
  const argv: string[] = [];
  if (!has((s) => s.slot === 'timing')) argv.push('-T4');
  if (!has((s) => s.name === '--max-parallelism')) argv.push('--max-parallelism', '10');
  if (!pingOnly && !has((s) => s.discovery === true)) argv.push('-Pn');
  if (!pingOnly && !has((s) => s.selectsPorts === true)) argv.push('--top-ports', '1000');
  if (family === 6 && !has((s) => s.name === '-6')) argv.push('-6');

  const emitted = new Set<string>();
  const emit = (...tokens: string[]) => {
    if (emitted.has(tokens[0]!)) return;
    emitted.add(tokens[0]!);
    argv.push(...tokens);
  };
  const scripts = () => {
    if (ctx.scripts.names.length + ctx.scripts.categories.length > 0) emit('--script', buildScriptSpec(ctx.scripts));
  };
  for (const o of options) {
    const name = o.spec.name;
    if (name === '-A') {
      // -A is spelled out so its default scripts get the same external/broadcast exclusion as any category.
      emit('-sV');
      emit('-O');
      emit('--traceroute');
      scripts();
    } else if (name === '-sC' || name === '--script') {
      scripts();
    } else if (o.value === undefined) {
      emit(name);
    } else if (o.spec.attached === 'only' || (name === '-p' && o.value === '-')) {
      emit(name + o.value);
    } else {
      emit(name, o.value);
    }
  }
  argv.push('--');
  return argv;
}

/**
 * The runner's second check: splits a dispatched argv at `--`, validates it again under `policy`, and
 * accepts it only if validation reproduces it exactly. A canonical argv is a fixed point of validation, so
 * anything forged, widened or reordered fails here.
 */
export function revalidateArgv(argv: unknown, policy: Policy = DEFAULT_POLICY): ValidationResult {
  if (!Array.isArray(argv) || !argv.every((t) => typeof t === 'string')) {
    return invalid('The dispatched argv is not an array of strings', 'Dispatch only argv produced by validateScanRequest.');
  }
  const dashes = argv.indexOf('--');
  if (dashes < 0) return invalid('The dispatched argv has no "--" before its targets', 'Dispatch only argv produced by validateScanRequest.');
  const result = validateScanRequest({ args: argv.slice(0, dashes), target: argv.slice(dashes + 1) }, policy);
  if (!result.ok) return result;
  if (result.argv.length !== argv.length || result.argv.some((t, i) => t !== argv[i])) {
    return invalid(
      'The dispatched argv is not in canonical form',
      'Dispatch only argv produced by validateScanRequest, unchanged.',
      { expected: result.argv },
    );
  }
  return result;
}
