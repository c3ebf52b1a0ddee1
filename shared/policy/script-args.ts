/**
 * `--script-args` by allowlist: every key must be one the catalog lists for a selected script, or one of a very
 * small set of global keys, and every value must pass that key's rule. No rule lets a `/` through, so no value
 * can name a file, a directory or a URL; no key names a server, an interface, an output file or Lua to load.
 *
 * Keys are matched exactly, and only dotted keys are taken: nmap reads a bare key `k` for every script that
 * asks for `<script>.k` (stdnse's arg_value falls back to the part after the last dot), so a bare key would
 * reach scripts the allowlist never looked at.
 */
import { CATALOG } from './catalog/index.ts';
import type { ArgRule } from './catalog/classes.ts';
import type { ScriptProblem, ScriptSelection } from './scripts.ts';

/**
 * Keys that libraries read for any script, each with its rule. `http.useragent` is sent to the target only;
 * `vulns.showall` changes the report; the brute and unpwdb keys bound guessing (only brute scripts, which are
 * intrusive, read them).
 */
export const GLOBAL_ARGS: Readonly<Record<string, ArgRule>> = {
  'http.useragent': { type: 'word' },
  'vulns.showall': { type: 'enum', values: ['1', 'true'] },
  'brute.firstonly': { type: 'enum', values: ['1', 'true'] },
  'brute.mode': { type: 'enum', values: ['user', 'pass', 'creds'] },
  'brute.threads': { type: 'int', min: 1, max: 16 },
  'brute.delay': { type: 'int', min: 0, max: 60 },
  'brute.retries': { type: 'int', min: 0, max: 10 },
  'unpwdb.userlimit': { type: 'int', min: 1, max: 10000 },
  'unpwdb.passlimit': { type: 'int', min: 1, max: 10000 },
};

const WORD = /^[A-Za-z0-9._-]{1,64}$/;
const DECIMAL = /^(?:0|[1-9][0-9]{0,8})$/;
const KEY = /^[A-Za-z0-9][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)+$/;

export interface ScriptArgsContext {
  /** Whether `text` is an IP address that is one of the scan's targets or inside one. */
  isTarget: (text: string) => boolean;
}

function describeRule(rule: ArgRule): string {
  switch (rule.type) {
    case 'int':
      return `an integer ${rule.min}–${rule.max}`;
    case 'enum':
      return `one of ${rule.values.join(', ')}`;
    case 'word':
      return 'a word of letters, digits, ".", "_" or "-" (1–64)';
    case 'target':
      return "an IP address among this scan's targets";
  }
}

/** Checks one value against its rule; returns the problem, if any. */
function checkRule(key: string, value: string, rule: ArgRule, ctx: ScriptArgsContext): string | undefined {
  const ok = (() => {
    switch (rule.type) {
      case 'int':
        return DECIMAL.test(value) && Number(value) >= rule.min && Number(value) <= rule.max;
      case 'enum':
        return rule.values.includes(value);
      case 'word':
        return WORD.test(value);
      case 'target':
        return ctx.isTarget(value);
    }
  })();
  return ok ? undefined : `${key}=${value}: ${key} takes ${describeRule(rule)}`;
}

/** The keys a selection may take, for messages. */
function allowedFor(script: string): string {
  const keys = Object.keys(CATALOG.get(script)?.args ?? {});
  return keys.length > 0 ? keys.join(', ') : 'no arguments';
}

function ruleFor(key: string, selection: ScriptSelection): ArgRule | ScriptProblem {
  const global = GLOBAL_ARGS[key];
  if (global) return global;
  if (!KEY.test(key)) {
    if (/^[A-Za-z0-9_-]+$/.test(key)) {
      return {
        problem: `script argument ${key} has no script name before it; nmap would hand it to every script that reads a "${key}"`,
        fix: `Give it as <script>.${key} for a script that takes it, e.g. ${selection.all().find((s) => CATALOG.get(s)?.args[`${s}.${key}`]) ?? 'http-title'}.${key}.`,
      };
    }
    return {
      problem: `${JSON.stringify(key)} is not a script argument key`,
      fix: 'Keys are lower-case script or library names and a dotted argument name, like http-title.url.',
    };
  }
  // A selected script that lists the key (its own, or a library key only that script family reads).
  for (const name of selection.all()) {
    const rule = CATALOG.get(name)?.args[key];
    if (rule) return rule;
  }
  const owner = key.slice(0, key.lastIndexOf('.'));
  const script = CATALOG.get(owner);
  if (script && !selection.has(owner)) {
    return {
      problem: `script argument ${key} is for ${owner}, which this scan does not run`,
      fix: `Add ${owner} to --script, or leave ${key} out.`,
    };
  }
  if (script) {
    return {
      problem: `script argument ${key} is not one scangate lets ${owner} take`,
      fix: `${owner} takes ${allowedFor(owner)}; leave ${key} out.`,
    };
  }
  return {
    problem: `script argument ${key} is not on the allowlist`,
    fix: `Global keys: ${Object.keys(GLOBAL_ARGS).join(', ')}; other keys belong to a selected script (see its catalog entry).`,
  };
}

/**
 * Parses and checks a `--script-args` value against the selected scripts. Returns the canonical value (pairs
 * sorted by key) or the first problem, naming the key and what is allowed.
 */
export function parseScriptArgs(
  value: string,
  selection: ScriptSelection,
  ctx: ScriptArgsContext,
): string | ScriptProblem {
  if (selection.empty) {
    return {
      problem: 'script arguments are given but no script is selected',
      fix: 'Add --script, or leave --script-args out.',
    };
  }
  const pairs = new Map<string, string>();
  for (const pair of value.split(',')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) {
      return {
        problem: `"${pair}" is not a key=value pair`,
        fix: 'Give pairs like http.useragent=scangate; flags are written key=1.',
      };
    }
    const key = pair.slice(0, eq);
    const val = pair.slice(eq + 1);
    if (/[/\\{}"'\s]/.test(val) || val.length === 0) {
      return {
        problem: `${key}=${val}: values may not be empty or hold "/", "\\", quotes, braces or spaces`,
        fix: 'Give a plain word or number; scangate never passes paths, URLs or tables to scripts.',
      };
    }
    const rule = ruleFor(key, selection);
    if ('problem' in rule) return rule;
    const problem = checkRule(key, val, rule, ctx);
    if (problem) return { problem, fix: `Give ${key} ${describeRule(rule)}.` };
    if (pairs.has(key)) return { problem: `${key} is given twice`, fix: `Give ${key} once.` };
    pairs.set(key, val);
  }
  return [...pairs.keys()]
    .sort()
    .map((k) => `${k}=${pairs.get(k)}`)
    .join(',');
}
