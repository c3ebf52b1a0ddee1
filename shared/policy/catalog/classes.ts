/**
 * The vocabulary of the script catalog: what nmap says about a script (facts), what a person decided after
 * reading it (review), and the floor the facts alone put under that decision. Pure data and rules, no I/O.
 */

/**
 * Our class of a script:
 * - `target-only`: touches only the scan's targets; allowed by default.
 * - `intrusive`: touches only the targets but may harm, guess passwords or exploit; needs allowIntrusive at the
 *   edge and `--allow-intrusive` on the runner.
 * - `off-target`: sends traffic, or makes a target send traffic, to anything but the targets; never allowed.
 * - `no-target`: runs without a target (prerule/postrule only, `broadcast-*`, `targets-*`); never allowed.
 */
export type ScriptClass = 'target-only' | 'intrusive' | 'off-target' | 'no-target';

export const SCRIPT_CLASSES: readonly ScriptClass[] = ['target-only', 'intrusive', 'off-target', 'no-target'];

/** What nmap's own files say about one script (generated; never edited by hand). */
export interface ScriptFacts {
  /**
   * Release → the categories its script.db gives the script, recorded at the first covered release that ships
   * it and at every release where they change (later releases keep the last record).
   */
  categories: Record<string, string[]>;
  /** The NSE rules the script defines. */
  rules: string[];
  /** Script-argument keys the source reads (stdnse.get_script_args) or documents (@args). */
  args: string[];
  /** The source asks for raw sockets (is_privileged, new_dnet, pcap_open): only a privileged runner runs it. */
  raw: boolean;
  /** The NSE libraries it requires. */
  libs: string[];
}

/**
 * Libraries that reach past the target whatever the script does with them, read in nmap's source (7.90–7.99):
 * httpspider's same-host check compares only the port on ports other than 80/443 (so a link to another host on
 * the same port is crawled) and strips `www.` on 80/443 (so `www.<target>` is resolved and fetched);
 * anyconnect passes http a redirect_ok that follows five redirects to any host.
 */
export const OFF_TARGET_LIBS: Readonly<Record<string, string>> = {
  httpspider:
    "Crawls with nmap's httpspider, which follows links to other hosts on the same port (and www.<target> on 80/443).",
  anyconnect: "Uses nmap's anyconnect library, which follows up to five HTTP redirects to any host.",
};

/** A value rule for one script argument. Every rule refuses `/`, so no value can name a file or a URL path. */
export type ArgRule =
  | { type: 'int'; min: number; max: number }
  | { type: 'enum'; values: string[] }
  /** Letters, digits, `.`, `_`, `-`, 1–64 characters. */
  | { type: 'word' }
  /** An IP address that is one of this scan's targets (or inside one of its CIDRs). */
  | { type: 'target' };

/** What a person decided after reading the script. */
export interface ScriptReview {
  class: ScriptClass;
  /** Why: what the script touches, in a sentence. `UNREVIEWED` until someone has read it. */
  why: string;
  /** The argument keys this script may be given, each with its rule. Everything else is refused. */
  args: Record<string, ArgRule>;
}

/** nmap categories that make a script intrusive at least (`vuln` only when not also `safe`). */
const INTRUSIVE_TAGS = ['intrusive', 'exploit', 'dos', 'brute', 'malware', 'fuzzer'];

const RANK: Record<ScriptClass, number> = { 'target-only': 0, intrusive: 1, 'off-target': 2, 'no-target': 2 };

/**
 * "7.93" → 7093: nmap release numbers (major.minor, a build suffix such as "7.94SVN" ignored) compare as
 * numbers, cheaply (the catalog loads at every cold start).
 */
function versionKey(version: string): number {
  const [major = '0', minor = '0'] = version.split('.');
  return (parseInt(major, 10) || 0) * 1000 + (parseInt(minor, 10) || 0);
}

/** Orders nmap release numbers. */
export function compareVersions(a: string, b: string): number {
  return versionKey(a) - versionKey(b);
}

/** Every category any covered release gives the script. */
export function allCategories(facts: ScriptFacts): Set<string> {
  return new Set(Object.values(facts.categories).flat());
}

/**
 * The least class the facts allow, whatever a review says: `broadcast-*`, `targets-*`, the `broadcast`
 * category or no host/port rule → no-target; `external` → off-target; nmap's intrusive tags → intrusive.
 */
export function floorClass(name: string, facts: ScriptFacts): ScriptClass {
  const tags = allCategories(facts);
  const targeted = facts.rules.includes('portrule') || facts.rules.includes('hostrule');
  if (name.startsWith('broadcast-') || name.startsWith('targets-') || tags.has('broadcast') || !targeted)
    return 'no-target';
  if (tags.has('external') || facts.libs.some((l) => OFF_TARGET_LIBS[l])) return 'off-target';
  if (INTRUSIVE_TAGS.some((t) => tags.has(t)) || (tags.has('vuln') && !tags.has('safe'))) return 'intrusive';
  return 'target-only';
}

/**
 * Why the facts alone put a script out of reach, for scripts whose floor is never allowed (so no review can
 * change the outcome); undefined for the rest, which a person must review.
 */
export function factReason(name: string, facts: ScriptFacts): string | undefined {
  const tags = allCategories(facts);
  const targeted = facts.rules.includes('portrule') || facts.rules.includes('hostrule');
  if (!targeted) return `Defines only ${facts.rules.join(' and ') || 'no'} rules: runs without a target host.`;
  if (name.startsWith('broadcast-') || tags.has('broadcast'))
    return 'Broadcast or multicast discovery on the local network, not at the targets.';
  if (name.startsWith('targets-')) return 'Finds new targets by itself instead of scanning the given ones.';
  if (tags.has('external')) return 'nmap tags it external: it sends traffic to third-party hosts.';
  const lib = facts.libs.find((l) => OFF_TARGET_LIBS[l]);
  if (lib) return OFF_TARGET_LIBS[lib];
  return undefined;
}

/** Whether a reviewed class is at least as strict as the floor. */
export function atLeast(reviewed: ScriptClass, floor: ScriptClass): boolean {
  if (floor === 'no-target') return reviewed === 'no-target' || reviewed === 'off-target';
  return RANK[reviewed] >= RANK[floor];
}
