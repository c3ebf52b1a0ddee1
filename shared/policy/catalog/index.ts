/**
 * The script catalog: every NSE script nmap 7.90–7.99 ships, with nmap's categories (nmap-facts.json, generated
 * by scripts/catalog/generate.ts) and our reviewed class and argument rules (review.json, written by people).
 * A review can make a script stricter than its facts, never looser: `load` applies the floor.
 */
import factsFile from './nmap-facts.json' with { type: 'json' };
import reviewFile from './review.json' with { type: 'json' };
import {
  allCategories,
  atLeast,
  compareVersions,
  floorClass,
  type ArgRule,
  type ScriptClass,
  type ScriptFacts,
  type ScriptReview,
} from './classes.ts';

export type { ArgRule, ScriptClass, ScriptFacts, ScriptReview } from './classes.ts';
export { SCRIPT_CLASSES, floorClass, atLeast, compareVersions, factReason } from './classes.ts';

export interface CatalogScript {
  readonly name: string;
  readonly class: ScriptClass;
  readonly why: string;
  /** Categories in the newest covered release that ships it. */
  readonly categories: readonly string[];
  readonly facts: ScriptFacts;
  /** First covered release that ships it. */
  readonly since: string;
  /** Needs raw sockets. */
  readonly raw: boolean;
  readonly args: Readonly<Record<string, ArgRule>>;
}

/** nmap releases whose scripts the catalog records, oldest first. */
export const CATALOG_RELEASES: readonly string[] = factsFile.releases;
export const OLDEST_RELEASE = CATALOG_RELEASES[0]!;
export const NEWEST_RELEASE = CATALOG_RELEASES.at(-1)!;

/** nmap's script categories (`all` is not one: it is refused as a selection). */
export const NMAP_CATEGORIES: ReadonlySet<string> = new Set([
  'auth',
  'broadcast',
  'brute',
  'default',
  'discovery',
  'dos',
  'exploit',
  'external',
  'fuzzer',
  'intrusive',
  'malware',
  'safe',
  'version',
  'vuln',
]);

/**
 * The categories `release`'s script.db gives a script, per the catalog: the record at the newest change at or
 * before that release. Undefined if that release does not ship it. A release past the newest covered one is
 * read as the newest.
 */
export function categoriesAt(facts: ScriptFacts, release: string): string[] | undefined {
  let found: string[] | undefined;
  for (const [from, categories] of Object.entries(facts.categories)) {
    if (compareVersions(from, release) <= 0) found = categories;
  }
  return found;
}

function load(): Map<string, CatalogScript> {
  const facts = factsFile.scripts as Record<string, ScriptFacts>;
  const reviews = reviewFile as Record<string, ScriptReview>;
  const catalog = new Map<string, CatalogScript>();
  for (const [name, f] of Object.entries(facts)) {
    const review = reviews[name];
    const floor = floorClass(name, f);
    const unreviewed = !review || review.why === 'UNREVIEWED';
    // Fail closed: a script nobody has reviewed, or a review looser than the facts, is never run (and the
    // catalog test fails until the review is written or fixed).
    const cls: ScriptClass =
      unreviewed || !atLeast(review.class, floor) ? (floor === 'no-target' ? floor : 'off-target') : review.class;
    const since = Object.keys(f.categories).sort(compareVersions)[0]!;
    catalog.set(name, {
      name,
      class: cls,
      why: unreviewed ? 'Not reviewed yet: refused until a person has read the script.' : review.why,
      categories: categoriesAt(f, NEWEST_RELEASE) ?? [],
      facts: f,
      since,
      raw: f.raw,
      args: review?.args ?? {},
    });
  }
  return catalog;
}

export const CATALOG: ReadonlyMap<string, CatalogScript> = load();

/** Whether scripts of this class may run under a policy (and a runner) with or without intrusive consent. */
export function classAllowed(cls: ScriptClass, allowIntrusive: boolean): boolean {
  return cls === 'target-only' || (cls === 'intrusive' && allowIntrusive);
}

/**
 * Scripts a category expands to: those that every covered release ships with that category, so an expansion
 * runs the same on any supported runner. Sorted by name.
 */
function stableMembers(category: string): CatalogScript[] {
  // Recorded at the oldest release and never changed after it without keeping the category.
  return [...CATALOG.values()].filter(
    (s) => s.since === OLDEST_RELEASE && Object.values(s.facts.categories).every((c) => c.includes(category)),
  );
}

const MEMBERS = new Map<string, CatalogScript[]>();

/** The stable members of a category (see stableMembers), and the members newer releases add. */
export function categoryMembers(category: string): {
  stable: readonly CatalogScript[];
  newer: readonly CatalogScript[];
} {
  if (!NMAP_CATEGORIES.has(category)) return { stable: [], newer: [] };
  let stable = MEMBERS.get(category);
  if (!stable) {
    stable = stableMembers(category);
    MEMBERS.set(category, stable);
  }
  const newer = [...CATALOG.values()].filter((s) => allCategories(s.facts).has(category) && !stable.includes(s));
  return { stable, newer };
}

/** One catalog entry as clients see it: what it is, whether this policy lets it run, and the arguments it takes. */
export interface CatalogEntryView {
  name: string;
  class: ScriptClass;
  /** Runs under this policy (intrusive ones also need the runner's --allow-intrusive). */
  allowed: boolean;
  categories: readonly string[];
  why: string;
  since: string;
  raw: boolean;
  args: Readonly<Record<string, ArgRule>>;
}

/** The catalog under a policy, sorted by name, optionally only the scripts that may run or those of a category. */
export function catalogView(
  allowIntrusive: boolean,
  filter: { allowedOnly?: boolean; category?: string } = {},
): CatalogEntryView[] {
  const rows: CatalogEntryView[] = [];
  for (const s of CATALOG.values()) {
    const allowed = classAllowed(s.class, allowIntrusive);
    if (filter.allowedOnly && !allowed) continue;
    if (filter.category && !s.categories.includes(filter.category)) continue;
    rows.push({
      name: s.name,
      class: s.class,
      allowed,
      categories: s.categories,
      why: s.why,
      since: s.since,
      raw: s.raw,
      args: s.args,
    });
  }
  return rows.sort((a, b) => (a.name < b.name ? -1 : 1));
}
