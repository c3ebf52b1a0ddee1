import { split as shellSplit } from 'shlex';
import { scanError, type JsonObject, type ScanError } from '../errors/index.ts';
import { ATTACHED_PREFIXES, FORBIDDEN, OPTIONS, OPTIONS_BY_SPELLING, type OptionSpec } from './options.ts';
import { describeCharacter, firstOddCharacter } from './characters.ts';
import { expandCategory, MAX_SCRIPT_VALUE, parseScriptSpec, type ScriptSelection } from './scripts.ts';
import type { ValueContext } from './values.ts';

/** Longest accepted argument token, in bytes (all tokens are ASCII, so bytes = characters). */
export const MAX_TOKEN_BYTES = 255;
/** Most tokens one request may carry. */
export const MAX_TOKENS = 128;
/** Longest accepted args string. */
export const MAX_ARGS_LENGTH = 4096;

export type Failure = { ok: false; error: ScanError };

export function invalid(message: string, recoverySuggestion: string, details?: JsonObject): Failure {
  return { ok: false, error: scanError('validation_error', message, recoverySuggestion, details && { details }) };
}

/**
 * Attaches a certain fix: the whole args as they should have been (`details.fixedArgs`). The validator turns it
 * into `details.suggested`, the corrected request, which MUST itself be accepted (a test feeds every one back).
 */
function fixed(failure: Failure, tokens: string[]): Failure {
  failure.error.details = { ...failure.error.details, fixedArgs: tokens };
  return failure;
}

function shown(token: string): string {
  return JSON.stringify(token.length > 60 ? `${token.slice(0, 60)}…` : token);
}

/** Printable ASCII (space included); `what` names the thing for the message. */
function printableProblem(text: string): number {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code > 0x7e) return i;
  }
  return -1;
}

// Without quotes, backslashes or `$`, a POSIX shell splits on blanks only; shlex is needed for the rest.
const NEEDS_SHELL_RULES = /['"\\$]/;

/**
 * Turns `args` into tokens: a string is split as a POSIX shell would (never run by one; unbalanced quotes
 * are an error), an array is taken as argv. Every token must be printable ASCII and at most 255 bytes.
 */
export function tokenize(args: unknown): { ok: true; tokens: string[] } | Failure {
  let tokens: string[];
  if (args === undefined || args === null) return { ok: true, tokens: [] };
  if (typeof args === 'string') {
    if (args.length > MAX_ARGS_LENGTH) {
      return invalid(
        `args is ${args.length} characters long; at most ${MAX_ARGS_LENGTH} are accepted`,
        'Send fewer options.',
      );
    }
    const at = printableProblem(args);
    if (at >= 0) {
      const odd = firstOddCharacter(args)!;
      return invalid(
        `args has ${describeCharacter(odd)} at position ${at}`,
        odd.ascii !== undefined
          ? `Type it as plain ASCII "${odd.ascii}".`
          : 'Use printable ASCII only; separate options with spaces.',
        { position: at, character: odd.code },
      );
    }
    if (NEEDS_SHELL_RULES.test(args)) {
      try {
        tokens = shellSplit(args);
      } catch (e) {
        return invalid(
          `args could not be split: ${(e as Error).message.toLowerCase()}`,
          'Close every quote and escape, or send args as an array of strings.',
        );
      }
    } else {
      tokens = args.split(' ').filter((t) => t.length > 0);
    }
  } else if (Array.isArray(args)) {
    tokens = args as string[];
    for (const token of tokens) {
      if (typeof token !== 'string')
        return invalid('args array holds a value that is not a string', 'Send every argument as a string.');
    }
  } else {
    return invalid(
      'args must be a string or an array of strings',
      'Send args like "-sV -p 80,443" or ["-sV", "-p", "80,443"].',
    );
  }
  if (tokens.length > MAX_TOKENS) {
    return invalid(`${tokens.length} argument tokens; at most ${MAX_TOKENS} are accepted`, 'Send fewer options.');
  }
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (token.length === 0) return invalid('args holds an empty argument', 'Remove the empty string.');
    // A --script value may be a long explicit list of catalog names (the canonical form of a category).
    const isScriptList = tokens[i - 1] === '--script' || token.startsWith('--script=');
    const limit = isScriptList ? MAX_SCRIPT_VALUE : MAX_TOKEN_BYTES;
    if (token.length > limit) {
      return invalid(
        `Argument ${shown(token)} is longer than ${limit} bytes`,
        'Shorten it, e.g. merge ports into ranges.',
      );
    }
    const at = printableProblem(token);
    if (at >= 0) {
      const odd = firstOddCharacter(token)!;
      return invalid(
        `Argument ${shown(token)} has ${describeCharacter(odd)} at position ${at}`,
        odd.ascii !== undefined ? `Type it as plain ASCII "${odd.ascii}".` : 'Use printable ASCII only.',
        { position: at, character: odd.code },
      );
    }
  }
  return { ok: true, tokens };
}

/** One option as parsed: its spec and canonical value. */
export interface ParsedOption {
  spec: OptionSpec;
  value: string | undefined;
  /** The option as the user spelled it, for messages. */
  given: string;
  fromTemplate: boolean;
}

export interface ParseContext extends ValueContext {
  allowIntrusive: boolean;
  allowEvasion: boolean;
  /** Collects every --script, -sC and -A selection. */
  scripts: ScriptSelection;
  fromTemplate: boolean;
}

function gateFailure(spec: OptionSpec, given: string): Failure {
  if (spec.name === '--script-args') {
    return invalid(
      '--script-args is accepted only when intrusive scans are enabled, and they are disabled by policy',
      'Leave it out (scripts run with their defaults), or ask an admin to set allowIntrusive (PUT /v1/policy).',
      { option: spec.name, gate: 'allowIntrusive' },
    );
  }
  if (spec.gate === 'intrusive') {
    return invalid(
      `${given} is intrusive, and intrusive scans are disabled by policy`,
      'Leave it out, or ask an admin to set allowIntrusive in the policy (PUT /v1/policy).',
      { option: spec.name, gate: 'allowIntrusive' },
    );
  }
  return invalid(
    `${given} is an evasion or spoofing option, and evasion is disabled by policy`,
    'Leave it out, or ask an admin to set allowEvasion in the policy (PUT /v1/policy).',
    { option: spec.name, gate: 'allowEvasion' },
  );
}

/** Short forbidden options, longest first, to catch a value glued on (`-iL/x`, `-eeth0`). */
const FORBIDDEN_SHORT = [...FORBIDDEN.keys()].filter((k) => !k.startsWith('--')).sort((a, b) => b.length - a.length);
const FORBIDDEN_LONG = [...FORBIDDEN.keys()].filter((k) => k.startsWith('--'));

/**
 * A forbidden option behind another spelling: one dash too many (`--iL`) or too few (`-privileged`), a value
 * glued on (`-iL/x`), or an abbreviation (`--resum`). Returns the option and how it was spelled.
 */
function forbiddenSpelling(name: string): { option: string; how: string } | undefined {
  if (name.startsWith('--') && FORBIDDEN.has(name.slice(1)))
    return { option: name.slice(1), how: `${name} is ${name.slice(1)} with one dash too many` };
  if (!name.startsWith('--') && name.length > 2 && FORBIDDEN.has(`-${name}`))
    return { option: `-${name}`, how: `${name} is -${name} written with one dash` };
  if (!name.startsWith('--')) {
    const short = FORBIDDEN_SHORT.find((k) => name.startsWith(k));
    if (short) return { option: short, how: `${name} is ${short} with a value glued on` };
  }
  const stem = name.startsWith('--') ? name : `-${name}`;
  // An abbreviation of an allowed option too is reported as such (unknownOption lists the candidates).
  if (stem.startsWith('--') && stem.length > 3 && !OPTIONS.some((o) => o.name.startsWith(stem))) {
    const long = FORBIDDEN_LONG.find((k) => k.startsWith(stem));
    if (long) return { option: long, how: `${name} abbreviates ${long}` };
  }
  return undefined;
}

function isOutputOption(name: string): boolean {
  return /^-o/.test(name) || /^--o[A-Z]/.test(name);
}

/** `tokens` with the one at `at` replaced by `replacement`. */
function replaced(tokens: readonly string[], at: number, ...replacement: string[]): string[] {
  return [...tokens.slice(0, at), ...replacement, ...tokens.slice(at + 1)];
}

/**
 * Explains a token that names no allowed option as well as we can; where the fix is certain, the failure
 * carries the corrected tokens (`tokens` with this one, at `at`, replaced).
 */
function unknownOption(token: string, tokens: readonly string[], at: number): Failure {
  const name = token.startsWith('--') ? token.split('=', 1)[0]! : token;
  const replace = (...replacement: string[]) => replaced(tokens, at, ...replacement);
  const reason = FORBIDDEN.get(name);
  if (reason !== undefined) {
    return invalid(`${name} is not allowed: it ${reason}`, 'Remove it; scangate never passes it to nmap.', {
      option: name,
    });
  }
  const disguised = forbiddenSpelling(name);
  if (disguised) {
    return invalid(
      `${disguised.how}; ${disguised.option} is not allowed: it ${FORBIDDEN.get(disguised.option)}`,
      'Remove it; scangate never passes it to nmap.',
      {
        option: disguised.option,
      },
    );
  }
  if (isOutputOption(name) || isOutputOption(name.replace(/^--/, '-'))) {
    return invalid(
      `${name} is an output option; the runner owns nmap's output and returns it with the scan`,
      'Remove it: the scan result carries the normal output and a parsed XML report.',
      { option: name },
    );
  }
  if (/[;|&<>`$(){}]/.test(token)) {
    return invalid(
      `Argument ${shown(token)} contains shell metacharacters; args are never run by a shell, and options are matched exactly`,
      'Send only nmap options and their values.',
      { token },
    );
  }
  if (/^-T./.test(name)) {
    return invalid(`${name} is not a timing template`, 'Use -T0 through -T5 (-T4 is the default).', { option: name });
  }
  if (name.startsWith('--') && OPTIONS_BY_SPELLING.has(name.slice(1))) {
    const short = name.slice(1);
    return fixed(
      invalid(`${name} has one dash too many`, `Write ${short}.`, { option: name }),
      replace(token.replace(name, short)),
    );
  }
  if (name.startsWith('--')) {
    const candidates = OPTIONS.map((s) => s.name)
      .filter((n) => n.startsWith(name) && n.length > name.length)
      .sort((a, b) => a.length - b.length);
    if (candidates.length > 0) {
      const failure = invalid(
        `${name} is an abbreviation; options must be spelled in full`,
        `Write ${candidates.slice(0, 3).join(' or ')}.`,
        {
          option: name,
        },
      );
      return candidates.length === 1 ? fixed(failure, replace(token.replace(name, candidates[0]!))) : failure;
    }
  } else if (name.length > 2 && /^-[A-Za-z]+$/.test(name)) {
    const letters = [...name.slice(1)].map((l) => `-${l}`);
    if (letters.every((l) => OPTIONS_BY_SPELLING.has(l) || FORBIDDEN.has(l))) {
      const failure = invalid(
        `${name} combines several short options in one token`,
        `Write them apart: ${letters.join(' ')}.`,
        { option: name },
      );
      // Only a split made of options that take no value is certain to mean what was typed.
      return letters.every((l) => OPTIONS_BY_SPELLING.get(l) && !OPTIONS_BY_SPELLING.get(l)!.value)
        ? fixed(failure, replace(...letters))
        : failure;
    }
  }
  return invalid(
    `Unknown or unsupported option ${shown(name)}`,
    'See list_templates / the README for the options scangate accepts.',
    {
      option: name,
    },
  );
}

/**
 * A long option written with one dash (`-script`, `-top-ports=10`): nmap would take it, but a short option with
 * a glued value may start the same way (`-privileged` is `-p rivileged` to a naive reader), so it is named first.
 */
function singleDashLong(token: string, tokens: readonly string[], at: number): Failure | undefined {
  if (token.startsWith('--') || token.length <= 3) return undefined;
  const eq = token.indexOf('=');
  const name = eq > 0 ? token.slice(0, eq) : token;
  if (FORBIDDEN.has(`-${name}`)) return unknownOption(token, tokens, at);
  const spec = OPTIONS_BY_SPELLING.get(`-${name}`);
  if (!spec?.name.startsWith('--')) return undefined;
  return fixed(
    invalid(`${name} is a long option written with one dash (-${name})`, `Write -${name}.`, { option: name }),
    replaced(tokens, at, `-${token}`),
  );
}

/** Flags nmap counts when repeated: a repeat changes the meaning, so it is refused with the spelling that fits. */
const COUNTED: Readonly<Record<string, { say: string; with: readonly string[] }>> = {
  '-v': { say: 'nmap counts each -v; write -vv for verbosity 2', with: ['-vv'] },
  '-vv': { say: 'nmap counts each v; -vv -vv would be verbosity 4, which scangate does not offer', with: ['-vv'] },
  '-f': { say: 'nmap reads -f -f as 16-byte fragments; write --mtu 16', with: ['--mtu', '16'] },
};

/** Whether the next token can serve as a value; a token that is itself an option means the value is missing. */
function looksLikeOption(token: string): boolean {
  return token.startsWith('-') && token !== '-' && !/^-[0-9]/.test(token);
}

/**
 * Parses tokens against the grammar. Every token must be an option or the value of the option before it:
 * a bare word would become an extra target, and `--` would end option parsing, so both are refused.
 */
export function parseOptions(
  tokens: readonly string[],
  ctx: ParseContext,
): { ok: true; options: ParsedOption[] } | Failure {
  const options: ParsedOption[] = [];
  let counted: Map<string, number> | undefined;
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (token === '--') {
      return invalid(
        '"--" is not allowed in args: it would end the options and start the targets',
        'Give targets only in target.',
      );
    }
    if (!token.startsWith('-') || token === '-') {
      return invalid(
        `Unexpected argument ${shown(token)}: only options and their values may appear in args`,
        'Put targets in target; give values straight after their option (-p 80).',
        { token },
      );
    }

    let spec: OptionSpec | undefined;
    let value: string | undefined;
    let needsValue = false;
    const eq = token.startsWith('--') ? token.indexOf('=') : -1;
    const spelling = eq > 0 ? token.slice(0, eq) : token;
    spec = OPTIONS_BY_SPELLING.get(spelling);
    if (spec) {
      if (eq > 0) {
        if (!spec.value && spec.name !== '--script' && spec.name !== '--script-args') {
          return fixed(
            invalid(`${spelling} takes no value, but ${shown(token)} gives one`, `Write ${spelling} alone.`, {
              option: spelling,
            }),
            replaced(tokens, i, spelling),
          );
        }
        value = token.slice(eq + 1);
      } else if (spec.attached === 'only') {
        value = '';
      } else {
        needsValue = spec.value !== undefined || spec.name === '--script' || spec.name === '--script-args';
      }
    } else if (!token.startsWith('--')) {
      const long = singleDashLong(token, tokens, i);
      if (long) return long;
      spec = ATTACHED_PREFIXES.find((s) => token.startsWith(s.name));
      if (spec) {
        value = token.slice(spec.name.length);
        if (value.startsWith('=')) {
          const split = spec.attached === 'only' ? [`${spec.name}${value.slice(1)}`] : [spec.name, value.slice(1)];
          return fixed(
            invalid(`${shown(token)} glues "=" to a short option`, `Write ${split.join(' ')}.`, { option: spec.name }),
            replaced(tokens, i, ...split),
          );
        }
      }
    }
    if (!spec) return unknownOption(token, tokens, i);
    if (spec.gate === 'intrusive' && !ctx.allowIntrusive) return gateFailure(spec, spelling);
    if (spec.gate === 'evasion' && !ctx.allowEvasion) return gateFailure(spec, spelling);

    const count = COUNTED[spec.name];
    if (count) {
      counted ??= new Map();
      const first = counted.get(spec.name);
      if (first !== undefined) {
        const corrected = [
          ...tokens.slice(0, first),
          ...count.with,
          ...tokens.slice(first + 1, i),
          ...tokens.slice(i + 1),
        ];
        const failure = invalid(`${spelling} is given twice: ${count.say}`, `Give it once: ${count.with.join(' ')}.`, {
          option: spec.name,
        });
        // --mtu is itself an evasion option: offered only where the policy would take it.
        return spec.name !== '-f' || ctx.allowEvasion ? fixed(failure, corrected) : failure;
      }
      counted.set(spec.name, i);
    }

    let valueAt = i;
    if (needsValue) {
      const next = tokens[i + 1];
      if (next === undefined || looksLikeOption(next) || next === '--') {
        return invalid(`${spelling} needs a value`, `Give it straight after the option, e.g. ${example(spec)}.`, {
          option: spelling,
        });
      }
      value = next;
      valueAt = ++i;
    }

    const checked = checkValue(spec, spelling, value, ctx);
    if (!checked.ok) {
      const replacement = checked.error.details?.replacement;
      if (typeof replacement === 'string') {
        const corrected = [...tokens];
        corrected[valueAt] = needsValue ? replacement : `${spelling}=${replacement}`;
        return fixed(checked, corrected);
      }
      return checked;
    }
    options.push({ spec, value: checked.value, given: spelling, fromTemplate: ctx.fromTemplate });
  }
  return { ok: true, options };
}

function example(spec: OptionSpec): string {
  switch (spec.name) {
    case '-p':
      return '-p 22,80,443';
    case '--script':
      return '--script http-title';
    case '--script-args':
      return '--script-args http.useragent=scangate';
    default:
      return `${spec.name} ${spec.name.includes('delay') || spec.name.includes('timeout') ? '30s' : '10'}`;
  }
}

function checkValue(
  spec: OptionSpec,
  spelling: string,
  value: string | undefined,
  ctx: ParseContext,
): { ok: true; value: string | undefined } | Failure {
  if (spec.name === '--script') {
    const problem = parseScriptSpec(value!, ctx.allowIntrusive, ctx.scripts);
    if (problem) {
      const details: JsonObject = {
        option: '--script',
        value,
        ...(problem.replacement && { replacement: problem.replacement }),
      };
      if (problem.intrusive) details.gate = 'allowIntrusive';
      return invalid(`--script ${shown(value!)}: ${problem.problem}`, problem.fix, details);
    }
    return { ok: true, value: undefined };
  }
  if (spec.name === '--script-args') {
    // Checked once every script is known (validate.ts): its keys depend on the scripts selected.
    if (value!.length === 0)
      return invalid('--script-args is empty', 'Give pairs like http.useragent=scangate, or leave it out.', {
        option: spec.name,
      });
    return { ok: true, value };
  }
  if (spec.name === '-sC' || spec.name === '-A') {
    const problem = expandCategory('default', ctx.allowIntrusive, ctx.scripts, spelling);
    if (problem) return invalid(`${spelling}: ${problem.problem}`, problem.fix, { option: spelling });
  }
  if (!spec.value || (spec.attached === 'only' && value === '')) return { ok: true, value };
  const result = spec.value(value!, ctx);
  if (!result.ok) {
    return invalid(`Invalid value for ${spelling}: ${result.problem}`, result.fix, { option: spelling, value });
  }
  return { ok: true, value: result.value };
}
