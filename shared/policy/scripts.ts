/**
 * NSE script selection, judged on our own catalog, never on nmap's categories alone (a category is not a
 * safety boundary: `safe` and `discovery` hold scripts nmap itself tags intrusive, and scripts that reach
 * hosts other than the targets). Categories, `-sC` and `-A` expand here into the explicit names the policy
 * allows; the canonical `--script` value is that sorted comma list and nothing else, so the runner judges
 * exactly what nmap will run.
 */
import {
  CATALOG,
  NMAP_CATEGORIES,
  OLDEST_RELEASE,
  categoryMembers,
  classAllowed,
  type CatalogScript,
  type ScriptClass,
} from './catalog/index.ts';

/**
 * The scripts a request selects: named one by one, and whole category expansions (kept as the shared,
 * precomputed lists they are, so a `--script safe` costs no per-request sorting), plus warnings.
 */
export class ScriptSelection {
  readonly named = new Set<string>();
  readonly expansions: Expansion[] = [];
  readonly warnings: string[] = [];

  has(name: string): boolean {
    return this.named.has(name) || this.expansions.some((e) => e.set.has(name));
  }

  get empty(): boolean {
    return this.named.size === 0 && this.expansions.length === 0;
  }

  /** Every selected name, sorted. */
  all(): string[] {
    if (this.named.size === 0 && this.expansions.length === 1) return [...this.expansions[0]!.names];
    const union = new Set(this.named);
    for (const e of this.expansions) for (const name of e.names) union.add(name);
    return [...union].sort();
  }
}

export function emptySelection(): ScriptSelection {
  return new ScriptSelection();
}

export type ScriptProblem = {
  problem: string;
  fix: string;
  /** Set when only the allowIntrusive gate stands in the way. */
  intrusive?: boolean;
  /** A concrete replacement for the offending value, if there is one. */
  replacement?: string;
};

/** Longest canonical `--script` value: every catalog name fits. */
export const MAX_SCRIPT_VALUE = 16 * 1024;

const SCRIPT_NAME = /^[a-z0-9][a-z0-9._-]{0,79}$/;

/**
 * Categories that ask for attacks (vulnerability checks, exploits, brute force, DoS, fuzzing, malware checks):
 * selecting one needs allowIntrusive, even though a few of their members are safe enough to name one by one.
 */
export const INTRUSIVE_CATEGORIES: ReadonlySet<string> = new Set([
  'brute',
  'dos',
  'exploit',
  'fuzzer',
  'intrusive',
  'malware',
  'vuln',
]);

const NEVER: Partial<Record<ScriptClass, string>> = {
  'off-target': 'reaches hosts other than the targets',
  'no-target': 'runs without a target',
};

function refusal(script: CatalogScript, allowIntrusive: boolean): ScriptProblem | undefined {
  if (classAllowed(script.class, allowIntrusive)) return undefined;
  if (script.class === 'intrusive') {
    return {
      problem: `script ${script.name} is intrusive (${script.why}), and intrusive scans are disabled by policy`,
      fix: 'Leave it out, or ask an admin to set allowIntrusive in the policy (PUT /v1/policy).',
      intrusive: true,
    };
  }
  return {
    problem: `script ${script.name} ${NEVER[script.class]}: ${script.why}`,
    fix: 'Leave it out; scangate never runs scripts that leave the targets, whatever the policy.',
  };
}

/** Says what an expansion left out and why, in one line. */
function leftOutNote(source: string, kept: number, left: Map<string, number>): string | undefined {
  if (left.size === 0) return undefined;
  const total = [...left.values()].reduce((a, b) => a + b, 0);
  const why = [...left.entries()].map(([reason, n]) => `${n} ${reason}`).join(', ');
  return `${source} runs ${kept} scripts; ${total} left out (${why})`;
}

const REASONS: Record<ScriptClass, string> = {
  'target-only': '',
  intrusive: 'intrusive (allowIntrusive is off)',
  'off-target': 'reach hosts other than the targets',
  'no-target': 'run without a target',
};

interface Expansion {
  /** Sorted. */
  names: readonly string[];
  set: ReadonlySet<string>;
  /** The names joined as a canonical --script value. */
  joined: string;
  /** Why the rest were left out: reason → count. */
  left: Map<string, number>;
  problem?: ScriptProblem;
}

/** What a category expands to under each setting of allowIntrusive, computed once (the catalog is fixed). */
const EXPANSIONS = new Map<string, Expansion>();

function expansion(category: string, allowIntrusive: boolean): Expansion {
  const key = `${category}:${allowIntrusive}`;
  const known = EXPANSIONS.get(key);
  if (known) return known;
  const { stable, newer } = categoryMembers(category);
  const left = new Map<string, number>();
  const names: string[] = [];
  let gatedOnly = true;
  const leave = (reason: string) => left.set(reason, (left.get(reason) ?? 0) + 1);
  for (const script of stable) {
    // Scripts that need raw sockets only run when named: an expansion must not make -sC need a privileged runner.
    if (script.raw && classAllowed(script.class, allowIntrusive)) {
      leave('need raw sockets (name them to use them)');
      gatedOnly = false;
    } else if (classAllowed(script.class, allowIntrusive)) {
      names.push(script.name);
    } else {
      if (script.class !== 'intrusive') gatedOnly = false;
      leave(REASONS[script.class]);
    }
  }
  if (newer.length > 0) left.set(`newer than nmap ${OLDEST_RELEASE} (name them to use them)`, newer.length);
  let problem: ScriptProblem | undefined;
  if (names.length === 0) {
    const intrusive = gatedOnly && stable.length > 0;
    problem = {
      problem: `category ${category} has no script this policy allows${intrusive ? ': every one is intrusive, and intrusive scans are disabled by policy' : ` (${[...left.entries()].map(([r, n]) => `${n} ${r}`).join(', ')})`}`,
      fix: intrusive
        ? 'Use a category such as default, safe, discovery or version, or ask an admin to set allowIntrusive (PUT /v1/policy).'
        : 'Use a category such as default, safe, discovery or version, or name scripts.',
      intrusive,
    };
  }
  names.sort();
  const result: Expansion = { names, set: new Set(names), joined: names.join(','), left, ...(problem && { problem }) };
  EXPANSIONS.set(key, result);
  return result;
}

/**
 * Adds a category's scripts that the policy allows. `source` names the selection for the warning
 * (`-sC`, `--script safe`). Returns a problem if nothing of the category may run.
 */
export function expandCategory(
  category: string,
  allowIntrusive: boolean,
  into: ScriptSelection,
  source: string,
): ScriptProblem | undefined {
  const found = expansion(category, allowIntrusive);
  if (found.problem) return found.problem;
  if (!into.expansions.includes(found)) into.expansions.push(found);
  const note = leftOutNote(source, found.names.length, found.left);
  if (note) into.warnings.push(note);
  return undefined;
}

const SORTED_NAMES = [...CATALOG.keys()].sort();

/** Up to three catalog names that start with `prefix` (binary search: this runs on every unknown name). */
function namesStartingWith(prefix: string): string[] {
  let low = 0;
  let high = SORTED_NAMES.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (SORTED_NAMES[mid]! < prefix) low = mid + 1;
    else high = mid;
  }
  const found: string[] = [];
  for (let i = low; i < SORTED_NAMES.length && found.length < 3 && SORTED_NAMES[i]!.startsWith(prefix); i++)
    found.push(SORTED_NAMES[i]!);
  return found;
}

/** Explains an item that is neither a catalog script nor a category. */
function unknownItem(item: string): ScriptProblem {
  if (item.includes('/') || item.endsWith('.nse') || item.includes('..')) {
    const name = item
      .split('/')
      .at(-1)!
      .replace(/\.nse$/, '');
    const known = CATALOG.has(name);
    return {
      problem: `${item} is a path; scripts are chosen by name only`,
      fix: known ? `Write ${name}.` : 'Give a script name such as http-title.',
      ...(known && { replacement: name }),
    };
  }
  if (/[*?[\]]/.test(item)) {
    return { problem: `${item} is a glob`, fix: 'Name each script, e.g. http-title,http-headers.' };
  }
  if (item.startsWith('+')) {
    const rest = item.slice(1);
    return {
      problem: `${item} forces a script past its rules`,
      fix: `Drop the "+"${rest ? `: write ${rest}` : ''}; scripts run only when their rules match.`,
      ...(rest && { replacement: rest }),
    };
  }
  if (/[()!&|\s]|\b(?:and|or|not)\b/.test(item)) {
    return {
      problem: `${item} is a boolean expression`,
      fix: 'Give a comma list of names or categories; the edge picks the scripts itself.',
    };
  }
  if (item === 'all') {
    return {
      problem: 'all would run every script nmap has',
      fix: 'Name the categories or scripts you need, e.g. default,version.',
    };
  }
  if (item !== item.toLowerCase()) {
    const lower = item.toLowerCase();
    return {
      problem: `${item} is not lower-case`,
      fix: `Write ${lower}.`,
      ...((CATALOG.has(lower) || NMAP_CATEGORIES.has(lower)) && { replacement: lower }),
    };
  }
  if (!SCRIPT_NAME.test(item))
    return { problem: `${JSON.stringify(item)} is not a script name`, fix: 'Give a script name such as http-title.' };
  const near = namesStartingWith(item.length >= 3 ? item : `${item}\u0000`);
  return {
    problem: `script ${item} is not in scangate's catalog of nmap ${OLDEST_RELEASE}+ scripts`,
    fix:
      near.length > 0
        ? `Did you mean ${near.join(' or ')}? The catalog: scanner_info (MCP) or GET /v1/scripts.`
        : 'Name a script from the catalog (scanner_info over MCP, GET /v1/scripts), or a category such as default or safe.',
  };
}

/**
 * Parses a `--script` value: a comma list of catalog names and nmap categories (the canonical form is a list
 * of names only). Adds what the policy allows to `into`; returns the first problem.
 */
export function parseScriptSpec(
  value: string,
  allowIntrusive: boolean,
  into: ScriptSelection,
): ScriptProblem | undefined {
  if (value.length === 0) return { problem: 'an empty script list', fix: 'Give at least one script name or category.' };
  if (value.length > MAX_SCRIPT_VALUE)
    return { problem: `a script list of ${value.length} characters`, fix: 'Name fewer scripts, or a category.' };
  for (const item of value.split(',')) {
    if (item.length === 0) {
      const tidy = value.split(',').filter(Boolean).join(',');
      return {
        problem: `an empty item in "${value}"`,
        fix: tidy ? `Separate names with single commas: ${tidy}.` : 'Give at least one script name.',
        ...(tidy && { replacement: tidy }),
      };
    }
    const script = CATALOG.get(item);
    if (script) {
      const problem = refusal(script, allowIntrusive);
      if (problem) return problem;
      into.named.add(item);
    } else if (NMAP_CATEGORIES.has(item)) {
      if (INTRUSIVE_CATEGORIES.has(item) && !allowIntrusive) {
        return {
          problem: `category ${item} is intrusive, and intrusive scans are disabled by policy`,
          fix: 'Use default, safe, discovery or version, name the scripts you need, or ask an admin to set allowIntrusive (PUT /v1/policy).',
          intrusive: true,
        };
      }
      const problem = expandCategory(item, allowIntrusive, into, `--script ${item}`);
      if (problem) return problem;
    } else {
      return unknownItem(item);
    }
  }
  return undefined;
}

/** The canonical `--script` value: the selected names, sorted, comma-separated. */
export function buildScriptSpec(selection: ScriptSelection): string {
  if (selection.named.size === 0 && selection.expansions.length === 1) return selection.expansions[0]!.joined;
  return selection.all().join(',');
}

/** Whether any selected script needs raw sockets. */
export function scriptsNeedPrivilege(selection: ScriptSelection): boolean {
  // Expansions never hold raw-socket scripts (see expansion()); only named ones can.
  for (const name of selection.named) if (CATALOG.get(name)?.raw) return true;
  return false;
}
