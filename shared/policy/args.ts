import { split as shellSplit } from 'shlex';
import { scanError, type ScanError } from '../errors/index.ts';
import { ATTACHED_PREFIXES, FORBIDDEN, OPTIONS, OPTIONS_BY_SPELLING, type OptionSpec } from './options.ts';
import { parseScriptArgs, parseScriptSpec, type ScriptSelection } from './scripts.ts';
import type { ValueContext } from './values.ts';

/** Longest accepted argument token, in bytes (all tokens are ASCII, so bytes = characters). */
export const MAX_TOKEN_BYTES = 255;
/** Most tokens one request may carry. */
export const MAX_TOKENS = 128;
/** Longest accepted args string. */
export const MAX_ARGS_LENGTH = 4096;

export type Failure = { ok: false; error: ScanError };

export function invalid(message: string, recoverySuggestion: string, details?: Record<string, unknown>): Failure {
  return { ok: false, error: scanError('validation_error', message, recoverySuggestion, details && { details }) };
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
      return invalid(`args is ${args.length} characters long; at most ${MAX_ARGS_LENGTH} are accepted`, 'Send fewer options.');
    }
    const at = printableProblem(args);
    if (at >= 0) {
      return invalid(
        `args has a non-printable or non-ASCII character at position ${at}`,
        'Use printable ASCII only; separate options with spaces.',
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
      if (typeof token !== 'string') return invalid('args array holds a value that is not a string', 'Send every argument as a string.');
    }
  } else {
    return invalid('args must be a string or an array of strings', 'Send args like "-sV -p 80,443" or ["-sV", "-p", "80,443"].');
  }
  if (tokens.length > MAX_TOKENS) {
    return invalid(`${tokens.length} argument tokens; at most ${MAX_TOKENS} are accepted`, 'Send fewer options.');
  }
  for (const token of tokens) {
    if (token.length === 0) return invalid('args holds an empty argument', 'Remove the empty string.');
    if (token.length > MAX_TOKEN_BYTES) {
      return invalid(`Argument ${shown(token)} is longer than ${MAX_TOKEN_BYTES} bytes`, 'Shorten it, e.g. merge ports into ranges.');
    }
    const at = printableProblem(token);
    if (at >= 0) {
      return invalid(`Argument ${shown(token)} has a non-printable or non-ASCII character`, 'Use printable ASCII only.');
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

/** Explains a token that names no allowed option as well as we can. */
function unknownOption(token: string): Failure {
  const name = token.startsWith('--') ? token.split('=', 1)[0]! : token;
  const reason = FORBIDDEN.get(name);
  if (reason !== undefined) {
    return invalid(`${name} is not allowed: it ${reason}`, 'Remove it; scangate never passes it to nmap.', { option: name });
  }
  if (/^-o[A-Za-z]?$/.test(name) || name.startsWith('-o')) {
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
  if (OPTIONS_BY_SPELLING.has(`-${name}`)) {
    return invalid(`${name} is a long option written with one dash`, `Write -${name}.`, { option: name });
  }
  if (name.startsWith('--')) {
    const candidates = OPTIONS.map((s) => s.name)
      .filter((n) => n.startsWith(name) && n.length > name.length)
      .sort((a, b) => a.length - b.length);
    if (candidates.length > 0) {
      return invalid(`${name} is an abbreviation; options must be spelled in full`, `Write ${candidates.slice(0, 3).join(' or ')}.`, {
        option: name,
      });
    }
  } else if (name.length > 2 && /^-[A-Za-z]+$/.test(name)) {
    const letters = [...name.slice(1)];
    if (letters.every((l) => OPTIONS_BY_SPELLING.has(`-${l}`) || FORBIDDEN.has(`-${l}`))) {
      return invalid(
        `${name} combines several short options in one token`,
        `Write them apart: ${letters.map((l) => `-${l}`).join(' ')}.`,
        { option: name },
      );
    }
  }
  return invalid(`Unknown or unsupported option ${shown(name)}`, 'See list_templates / the README for the options scangate accepts.', {
    option: name,
  });
}

/** Whether the next token can serve as a value; a token that is itself an option means the value is missing. */
function looksLikeOption(token: string): boolean {
  return token.startsWith('-') && token !== '-' && !/^-[0-9]/.test(token);
}

/**
 * Parses tokens against the grammar. Every token must be an option or the value of the option before it:
 * a bare word would become an extra target, and `--` would end option parsing, so both are refused.
 */
export function parseOptions(tokens: readonly string[], ctx: ParseContext): { ok: true; options: ParsedOption[] } | Failure {
  const options: ParsedOption[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (token === '--') {
      return invalid('"--" is not allowed in args: it would end the options and start the targets', 'Give targets only in target.');
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
          return invalid(`${spelling} takes no value, but ${shown(token)} gives one`, `Write ${spelling} alone.`, { option: spelling });
        }
        value = token.slice(eq + 1);
      } else if (spec.attached === 'only') {
        value = '';
      } else {
        needsValue = spec.value !== undefined || spec.name === '--script' || spec.name === '--script-args';
      }
    } else if (!token.startsWith('--')) {
      spec = ATTACHED_PREFIXES.find((s) => token.startsWith(s.name));
      if (spec) {
        value = token.slice(spec.name.length);
        if (value.startsWith('=')) {
          return invalid(`${shown(token)} glues "=" to a short option`, `Write ${spec.name} ${value.slice(1)}.`, { option: spec.name });
        }
      }
    }
    if (!spec) return unknownOption(token);
    if (spec.gate === 'intrusive' && !ctx.allowIntrusive) return gateFailure(spec, spelling);
    if (spec.gate === 'evasion' && !ctx.allowEvasion) return gateFailure(spec, spelling);

    if (needsValue) {
      const next = tokens[i + 1];
      if (next === undefined || looksLikeOption(next) || next === '--') {
        return invalid(`${spelling} needs a value`, `Give it straight after the option, e.g. ${example(spec)}.`, { option: spelling });
      }
      value = next;
      i++;
    }

    const checked = checkValue(spec, spelling, value, ctx);
    if (!checked.ok) return checked;
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

function checkValue(spec: OptionSpec, spelling: string, value: string | undefined, ctx: ParseContext): { ok: true; value: string | undefined } | Failure {
  if (spec.name === '--script') {
    const picked = parseScriptSpec(value!, ctx.allowIntrusive, ctx.scripts);
    if ('problem' in picked) {
      return invalid(`--script ${shown(value!)}: ${picked.problem}`, picked.fix, { option: '--script', value });
    }
    return { ok: true, value: undefined };
  }
  if (spec.name === '--script-args') {
    const args = parseScriptArgs(value!);
    if (typeof args !== 'string') return invalid(`--script-args: ${args.problem}`, args.fix, { option: '--script-args', value });
    return { ok: true, value: args };
  }
  if (spec.name === '-sC' || spec.name === '-A') {
    if (!ctx.scripts.categories.includes('default')) ctx.scripts.categories.push('default');
  }
  if (!spec.value || (spec.attached === 'only' && value === '')) return { ok: true, value };
  const result = spec.value(value!, ctx);
  if (!result.ok) {
    return invalid(`Invalid value for ${spelling}: ${result.problem}`, result.fix, { option: spelling, value });
  }
  return { ok: true, value: result.value };
}
