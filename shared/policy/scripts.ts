/**
 * NSE scripts: names and categories from allowlists only, never paths, globs, `+` or expressions written
 * by a user. Categories are spelled in the canonical argv as an expression the edge builds, so a category
 * never runs scripts that are also tagged `external` or `broadcast` (those reach past the targets).
 *
 * Script facts come from the original tool, checked against nmap 7.93's script.db: `dns-brute` and
 * `oracle-sid-brute`, which the original called safe, are tagged `intrusive` by nmap and are gated here;
 * its glob entries (`http-vuln-*`, …) are expanded to the named scripts nmap ships.
 */

export const SAFE_CATEGORIES: ReadonlySet<string> = new Set(['safe', 'default', 'discovery', 'version']);
export const INTRUSIVE_CATEGORIES: ReadonlySet<string> = new Set(['vuln', 'exploit', 'intrusive', 'brute', 'dos']);

export const SAFE_SCRIPTS: ReadonlySet<string> = new Set([
  'http-headers', 'ssl-cert', 'ssh-hostkey', 'smb-os-discovery', 'http-title', 'ftp-anon', 'smtp-commands',
  'pop3-capabilities', 'imap-capabilities', 'mongodb-info', 'mysql-info', 'ms-sql-info', 'rdp-enum-encryption',
  'vnc-info', 'x11-access', 'ntp-info', 'snmp-info', 'rpcinfo', 'nbstat',
]);

export const INTRUSIVE_SCRIPTS: ReadonlySet<string> = new Set([
  'dns-brute', 'oracle-sid-brute', 'ssl-heartbleed', 'ms-sql-brute', 'mysql-brute', 'ftp-brute', 'ssh-brute',
  'dns-zone-transfer', 'snmp-brute', 'http-slowloris',
  // http-vuln-*, smb-vuln-*, smtp-vuln-* as shipped with nmap 7.93
  'http-vuln-cve2006-3392', 'http-vuln-cve2009-3960', 'http-vuln-cve2010-0738', 'http-vuln-cve2010-2861',
  'http-vuln-cve2011-3192', 'http-vuln-cve2011-3368', 'http-vuln-cve2012-1823', 'http-vuln-cve2013-0156',
  'http-vuln-cve2013-6786', 'http-vuln-cve2013-7091', 'http-vuln-cve2014-2126', 'http-vuln-cve2014-2127',
  'http-vuln-cve2014-2128', 'http-vuln-cve2014-2129', 'http-vuln-cve2014-3704', 'http-vuln-cve2014-8877',
  'http-vuln-cve2015-1427', 'http-vuln-cve2015-1635', 'http-vuln-cve2017-1001000', 'http-vuln-cve2017-5638',
  'http-vuln-cve2017-5689', 'http-vuln-cve2017-8917', 'http-vuln-misfortune-cookie', 'http-vuln-wnr1000-creds',
  'smb-vuln-conficker', 'smb-vuln-cve-2017-7494', 'smb-vuln-cve2009-3103', 'smb-vuln-ms06-025',
  'smb-vuln-ms07-029', 'smb-vuln-ms08-067', 'smb-vuln-ms10-054', 'smb-vuln-ms10-061', 'smb-vuln-ms17-010',
  'smb-vuln-regsvc-dos', 'smb-vuln-webexec', 'smtp-vuln-cve2010-4344', 'smtp-vuln-cve2011-1720',
  'smtp-vuln-cve2011-1764',
]);

const EXCLUDED = 'and not (external or broadcast)';
const CATEGORY_EXPRESSION = /^\(([a-z]+(?: or [a-z]+)*)\) and not \(external or broadcast\)$/;
const SCRIPT_NAME = /^[a-z0-9][a-z0-9-]{0,79}$/;

/** The scripts of one `--script` value, split into named scripts and categories, in first-seen order. */
export interface ScriptSelection {
  names: string[];
  categories: string[];
}

export type ScriptProblem = { problem: string; fix: string; intrusive?: boolean };

/** What kind of thing a single script item is, and whether policy allows it. */
function classify(item: string, allowIntrusive: boolean): 'name' | 'category' | ScriptProblem {
  if (SAFE_CATEGORIES.has(item)) return 'category';
  if (SAFE_SCRIPTS.has(item)) return 'name';
  const intrusiveCategory = INTRUSIVE_CATEGORIES.has(item);
  if (intrusiveCategory || INTRUSIVE_SCRIPTS.has(item)) {
    if (allowIntrusive) return intrusiveCategory ? 'category' : 'name';
    return {
      problem: `${intrusiveCategory ? 'category' : 'script'} ${item} is intrusive, and intrusive scans are disabled by policy`,
      fix: `Use a safe category (${[...SAFE_CATEGORIES].join(', ')}) or a safe script; an admin can set allowIntrusive in the policy (PUT /v1/policy).`,
      intrusive: true,
    };
  }
  if (item.includes('/') || item.endsWith('.nse') || item.includes('..')) {
    return { problem: `${item} is a path; scripts are chosen by name only`, fix: 'Give a script name such as http-title.' };
  }
  if (/[*?[\]]/.test(item)) {
    return { problem: `${item} is a glob`, fix: 'Name each script, e.g. http-title,http-headers.' };
  }
  if (item.startsWith('+')) {
    return { problem: `${item} forces a script past its rules`, fix: 'Drop the "+"; scripts run only when their rules match.' };
  }
  if (/[()!&|]|\b(?:and|or|not)\b/.test(item)) {
    return {
      problem: `${item} is a boolean expression`,
      fix: 'Give a comma list of names or categories; the edge builds the expression itself.',
    };
  }
  if (item !== item.toLowerCase()) {
    return { problem: `${item} is not lower-case`, fix: `Write it as ${item.toLowerCase()}.` };
  }
  if (!SCRIPT_NAME.test(item)) return { problem: `${JSON.stringify(item)} is not a script name`, fix: 'Give a script name such as http-title.' };
  return {
    problem: `script ${item} is not on the allowlist`,
    fix: `Use a category (${[...SAFE_CATEGORIES].join(', ')}) or an allowed script such as ${[...SAFE_SCRIPTS].slice(0, 4).join(', ')}.`,
  };
}

/**
 * Parses a `--script` value: a comma list of allowlisted names and categories, or the canonical form this
 * module writes (names, then one category expression). Returns the selection or the first problem.
 */
export function parseScriptSpec(value: string, allowIntrusive: boolean, into?: ScriptSelection): ScriptSelection | ScriptProblem {
  const selection = into ?? { names: [], categories: [] };
  if (value.length === 0) return { problem: 'an empty script list', fix: 'Give at least one script name or category.' };
  for (const item of value.split(',')) {
    if (item.length === 0) return { problem: `an empty item in "${value}"`, fix: 'Separate names with single commas.' };
    const expression = CATEGORY_EXPRESSION.exec(item);
    const items = expression ? expression[1]!.split(' or ') : [item];
    for (const one of items) {
      const kind = classify(one, allowIntrusive);
      if (typeof kind !== 'string') return kind;
      if (expression && kind !== 'category') {
        return { problem: `${one} is not a category`, fix: 'Only categories go inside the category expression.' };
      }
      const list = kind === 'name' ? selection.names : selection.categories;
      if (!list.includes(one)) list.push(one);
    }
  }
  return selection;
}

/** The canonical `--script` value: named scripts, then the categories with external and broadcast excluded. */
export function buildScriptSpec(selection: ScriptSelection): string {
  const items = [...selection.names];
  if (selection.categories.length > 0) items.push(`(${selection.categories.join(' or ')}) ${EXCLUDED}`);
  return items.join(',');
}

const ARG_KEY = /^[a-z0-9._-]+$/;
const ARG_VALUE = /^[A-Za-z0-9._:/@-]+$/;

/** Why a script-arg key is refused, if it is: keys that name files or add targets never pass. */
function forbiddenKey(key: string): string | undefined {
  if (key.includes('file') || key.includes('path') || key.includes('dir') || key.endsWith('db')) {
    return 'names a file, path, directory or database';
  }
  if (key === 'destination' || key.endsWith('.destination')) return 'names a destination to write to';
  if (key === 'newtargets' || key.endsWith('.newtargets')) return 'adds targets the policy never checked';
  return undefined;
}

/** Parses `--script-args`: comma-separated `key=value` pairs. Returns the canonical value or a problem. */
export function parseScriptArgs(value: string): string | ScriptProblem {
  const pairs: string[] = [];
  for (const pair of value.split(',')) {
    const eq = pair.indexOf('=');
    const key = eq < 0 ? pair : pair.slice(0, eq);
    const val = eq < 0 ? '' : pair.slice(eq + 1);
    if (eq < 0 || !ARG_KEY.test(key) || !ARG_VALUE.test(val)) {
      return {
        problem: `"${pair}" is not a key=value pair of the allowed characters`,
        fix: 'Give pairs like http.useragent=scangate: keys [a-z0-9._-], values [A-Za-z0-9._:/@-], no quotes, braces or spaces.',
      };
    }
    const why = forbiddenKey(key);
    if (why) return { problem: `script argument ${key} ${why}`, fix: 'Leave that argument out; scripts use their built-in defaults.' };
    pairs.push(`${key}=${val}`);
  }
  return pairs.join(',');
}
