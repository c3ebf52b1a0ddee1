import type { JsonObject, ScanError } from '../errors/index.ts';
import { invalid, parseOptions, tokenize, type ParsedOption, type ParseContext } from './args.ts';
import { OPTIONS, type OptionSpec } from './options.ts';
import { DEFAULT_POLICY, type Policy } from './policy.ts';
import { parseScriptArgs } from './script-args.ts';
import { buildScriptSpec, emptySelection, scriptsNeedPrivilege } from './scripts.ts';
import { compileTargetRules, isTargetAddress, parseTarget, parseTargets, type Target } from './targets.ts';
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

const TEMPLATE_TOKENS = Object.fromEntries(TEMPLATE_NAMES.map((name) => [name, TEMPLATES[name].split(' ')])) as Record<
  TemplateName,
  string[]
>;

/**
 * Checks a scan request against the policy and returns the canonical argv, or the first problem as a
 * ScanError whose message names the offending token and whose recoverySuggestion names the fix.
 * Never throws, whatever `input` is.
 */
export function validateScanRequest(input: unknown, policy: Policy = DEFAULT_POLICY): ValidationResult {
  try {
    return withSuggestion(validate(input, policy), input, policy);
  } catch (e) {
    // Every path above returns its own error; reaching here is a bug, reported rather than thrown.
    return invalid(
      `Internal validation failure: ${(e as Error)?.message ?? String(e)}`,
      'Report this request to the scangate maintainers.',
    );
  }
}

function validate(input: unknown, policy: Policy): ValidationResult {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return invalid(
      'The scan request must be an object with a target',
      'Send { "target": "10.0.0.5", "template": "quick" }.',
    );
  }
  const { target, args, template } = input as JsonObject;
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
  const scanned = targets.targets;
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
    scripts: emptySelection(),
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
  const conflict = findConflict(merged.options, targets.family, ctx, scanned);
  if (conflict) return conflict;
  warnings.push(...ctx.scripts.warnings);

  const scriptArgs = merged.options.find((o) => o.spec.name === '--script-args');
  if (scriptArgs) {
    const parsed = parseScriptArgs(scriptArgs.value!, ctx.scripts, {
      isTarget: (text) => isTargetAddress(text, scanned),
    });
    if (typeof parsed !== 'string') {
      return invalid(`--script-args: ${parsed.problem}`, parsed.fix, {
        option: '--script-args',
        value: scriptArgs.value,
      });
    }
    scriptArgs.value = parsed;
  }

  const argv = canonicalArgv(merged.options, ctx, targets.family);
  for (const t of scanned) argv.push(t.value);
  return {
    ok: true,
    argv,
    targets: scanned,
    warnings,
    needsPrivilege: merged.options.some((o) => o.spec.privileged) || scriptsNeedPrivilege(ctx.scripts),
  };
}

/**
 * Turns a certain fix found deep in parsing (`details.fixedArgs`, or `details.fixedTarget` for one target) into
 * `details.suggested`: the whole request as it should be sent. Every suggestion MUST validate (tested).
 */
function withSuggestion(result: ValidationResult, input: unknown, policy: Policy): ValidationResult {
  if (result.ok || !result.error.details) return result;
  const { fixedArgs, fixedTarget, ...details } = result.error.details as {
    fixedArgs?: string[];
    fixedTarget?: { from: string; to: string; addArgs?: string[] };
  };
  if (!fixedArgs && !fixedTarget) return result;
  // The request as its sender wrote it: parsed JSON (REST, MCP) or the same shape over RPC.
  const request = input as JsonObject;
  const suggested: JsonObject = { ...request };
  if (fixedArgs) suggested.args = fixedArgs;
  if (fixedTarget) {
    const list = Array.isArray(request.target) ? request.target : [request.target ?? null];
    suggested.target = list.map((t) => (t === fixedTarget.from ? fixedTarget.to : t));
    if (fixedTarget.addArgs) {
      const tokens = tokenize(request.args);
      suggested.args = [...(tokens.ok ? tokens.tokens : []), ...fixedTarget.addArgs];
    }
  }
  // Offered only if it passes as a whole (a fix for one token can still meet another problem further on).
  const passes = validate(suggested, policy).ok;
  return { ok: false, error: { ...result.error, details: passes ? { ...details, suggested } : details } };
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
      warnings.push(
        `${by.given}${by.value ? ` ${by.value}` : ''} replaces ${o.spec.name}${o.value ? ` ${o.value}` : ''} of template ${template}`,
      );
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

/** `-A` spelled out: OS detection, traceroute and version detection with scripts. Judged the same as `-A`. */
function isAggressive(options: ParsedOption[], ctx: ParseContext): boolean {
  const has = (name: string) => options.some((o) => o.spec.name === name);
  return has('-A') || (has('-O') && has('--traceroute') && has('-sV') && !ctx.scripts.empty);
}

function findConflict(
  options: ParsedOption[],
  family: 4 | 6 | undefined,
  ctx: ParseContext,
  targets: readonly Target[],
): { ok: false; error: ScanError } | undefined {
  if (!ctx.allowIntrusive && isAggressive(options, ctx)) {
    return invalid(
      '-sV -O --traceroute with scripts is -A spelled out, and -A is intrusive, which the policy disables',
      'Drop one of -O, --traceroute or the scripts, or ask an admin to set allowIntrusive in the policy (PUT /v1/policy).',
      { option: '-A', gate: 'allowIntrusive' },
    );
  }
  const decoys =
    options
      .find((o) => o.spec.name === '-D')
      ?.value?.split(',')
      .filter((d) => d !== 'ME') ?? [];
  const self = decoys.find((d) => isTargetAddress(d, targets));
  if (self) {
    return invalid(
      `Decoy ${self} is one of the targets: the target would be sent packets from itself`,
      'Use decoy addresses that are not scanned in this request.',
      {
        option: '-D',
      },
    );
  }
  if (family) {
    const other = decoys.find((d) => (d.includes(':') ? 6 : 4) !== family);
    if (other) {
      return invalid(
        `Decoy ${other} is not IPv${family} like the targets; nmap sends decoys in the targets' family`,
        `Give IPv${family} decoys only.`,
        {
          option: '-D',
        },
      );
    }
  }
  const bySlot = new Map<string, OptionSpec>();
  for (const o of options) {
    if (!o.spec.slot) continue;
    const other = bySlot.get(o.spec.slot);
    if (other && other !== o.spec) {
      return invalid(
        `${other.name} and ${o.spec.name} cannot be combined`,
        `Keep one of them; both set the ${SLOT_WORDS[o.spec.slot]}.`,
        {
          options: [other.name, o.spec.name],
        },
      );
    }
    bySlot.set(o.spec.slot, o.spec);
  }
  if (options.some((o) => o.spec.name === '-sn')) {
    const scan = options.find((o) => o.spec.portScan);
    if (scan) {
      return invalid(
        `-sn (host discovery only) cannot be combined with ${scan.given}`,
        `Drop -sn to scan ports, or drop ${scan.given}.`,
        {
          options: ['-sn', scan.spec.name],
        },
      );
    }
  }
  const number = (name: string) => {
    const v = options.find((o) => o.spec.name === name)?.value;
    return v === undefined ? undefined : Number(v);
  };
  for (const [low, high] of [
    ['--min-rate', '--max-rate'],
    ['--min-parallelism', '--max-parallelism'],
  ] as const) {
    const l = number(low);
    const h = number(high);
    if (l !== undefined && h !== undefined && l > h) {
      return invalid(`${low} ${l} is above ${high} ${h}`, `Make ${low} at most ${high}.`, { options: [low, high] });
    }
  }
  if (family === 4 && options.some((o) => o.spec.name === '-6')) {
    return invalid('-6 is given but the targets are IPv4', 'Drop -6; it is added by itself for IPv6 targets.', {
      option: '-6',
    });
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
  fragments: 'fragment size (nmap adds 8 for each -f to an earlier --mtu)',
};

/** Grammar position of every option: the canonical argv lists options in this order, whatever order they came in. */
const ORDER: ReadonlyMap<string, number> = new Map(OPTIONS.map((spec, i) => [spec.name, i]));

/**
 * The canonical argv: defaults where absent (-n always; -T4; --max-parallelism 10, or the user's higher
 * --min-parallelism; -Pn unless discovery is chosen or -sn; --top-ports 1000 unless ports are chosen or -sn;
 * -6 for IPv6), every option once, in grammar order; -A spelled out as -sV -O --traceroute; -sC, -A and every
 * --script folded into one --script with the explicit sorted list of scripts; then `--`. A fixed point of
 * validation, and the only order the runner's re-check accepts.
 */
function canonicalArgv(options: ParsedOption[], ctx: ParseContext, family: 4 | 6 | undefined): string[] {
  // Each option once, tagged with its grammar position; sorting by it gives the canonical order.
  const chosen: Array<{ at: number; tokens: string[] }> = [];
  const put = (name: string, ...tokens: string[]) => {
    const at = ORDER.get(name)!;
    if (!chosen.some((c) => c.at === at)) chosen.push({ at, tokens: tokens.length > 0 ? tokens : [name] });
  };
  let pingOnly = false;
  let timing = false;
  let maxParallelism = false;
  let discovery = false;
  let ports = false;
  let minParallelism = 0;
  for (const o of options) {
    const spec = o.spec;
    if (spec.name === '-sn') pingOnly = true;
    else if (spec.name === '--max-parallelism') maxParallelism = true;
    else if (spec.name === '--min-parallelism') minParallelism = Number(o.value);
    if (spec.slot === 'timing') timing = true;
    if (spec.discovery === true) discovery = true;
    if (spec.selectsPorts === true) ports = true;
  }
  put('-n');
  if (!timing) put('-T4');
  // The default cap yields to a higher floor the user asked for, so nmap and the runner's re-check agree.
  if (!maxParallelism) put('--max-parallelism', '--max-parallelism', String(Math.max(10, minParallelism)));
  if (!pingOnly && !discovery) put('-Pn');
  if (!pingOnly && !ports) put('--top-ports', '--top-ports', '1000');
  if (family === 6) put('-6');
  if (!ctx.scripts.empty) put('--script', '--script', buildScriptSpec(ctx.scripts));

  for (const o of options) {
    const name = o.spec.name;
    if (name === '-A') {
      put('-sV');
      put('-O');
      put('--traceroute');
    } else if (name === '-sC' || name === '--script') {
      // Folded into the one --script above.
    } else if (o.value === undefined) {
      put(name);
    } else if (o.spec.attached === 'only' || (name === '-p' && o.value === '-')) {
      put(name, name + o.value);
    } else {
      put(name, name, o.value);
    }
  }
  chosen.sort((a, b) => a.at - b.at);
  const argv: string[] = [];
  for (const { tokens } of chosen) for (const token of tokens) argv.push(token);
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
    return invalid(
      'The dispatched argv is not an array of strings',
      'Dispatch only argv produced by validateScanRequest.',
    );
  }
  const dashes = argv.indexOf('--');
  if (dashes < 0)
    return invalid(
      'The dispatched argv has no "--" before its targets',
      'Dispatch only argv produced by validateScanRequest.',
    );
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
