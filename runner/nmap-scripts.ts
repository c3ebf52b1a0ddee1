import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { scanError, type ScanError } from '../shared/errors/index.ts';
import { CATALOG, CATALOG_RELEASES, categoriesAt, classAllowed, compareVersions } from '../shared/policy/index.ts';

const run = promisify(execFile);

/**
 * The scripts this runner's own nmap ships, with the categories its script.db gives them: the runner checks
 * every dispatched script against them, so a script its nmap describes differently from the catalog's record
 * (or one the catalog does not know) never runs here, whatever the edge decided.
 */
export interface LocalScripts {
  /** nmap's version ("7.93"), or null when unknown. */
  version: string | null;
  categories: ReadonlyMap<string, readonly string[]>;
}

const NAME_LINE = /^[a-z0-9][a-z0-9._-]*$/;

/** Reads `nmap --script-help all` output: each script's name line is followed by its `Categories:` line. */
export function parseScriptHelp(text: string): Map<string, string[]> {
  const lines = text.split('\n');
  const found = new Map<string, string[]>();
  for (let i = 1; i < lines.length; i++) {
    const m = /^Categories:(.*)$/.exec(lines[i]!);
    const name = lines[i - 1]!.trim();
    if (m && NAME_LINE.test(name)) found.set(name, m[1]!.trim().split(/\s+/).filter(Boolean).sort());
  }
  return found;
}

/**
 * Asks nmap itself (`--script-help all` reads script.db and sends no packets). Undefined if nmap cannot say,
 * in which case the runner refuses every scan with scripts.
 */
export async function readLocalScripts(nmapPath: string, version: string | null): Promise<LocalScripts | undefined> {
  try {
    const { stdout } = await run(nmapPath, ['--script-help', 'all'], { timeout: 30_000, maxBuffer: 32 * 1024 * 1024 });
    const categories = parseScriptHelp(stdout);
    return categories.size > 0 ? { version, categories } : undefined;
  } catch {
    return undefined;
  }
}

/** The catalog release whose records apply to this nmap: its own if covered, else the nearest covered one. */
export function catalogReleaseFor(version: string | null): { release: string; covered: boolean } {
  if (version && CATALOG_RELEASES.includes(version)) return { release: version, covered: true };
  const newest = CATALOG_RELEASES.at(-1)!;
  if (!version) return { release: newest, covered: false };
  const older = CATALOG_RELEASES.filter((r) => compareVersions(r, version) <= 0);
  return { release: older.at(-1) ?? CATALOG_RELEASES[0]!, covered: false };
}

function same(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Why this runner refuses one script, if it does. */
function scriptProblem(name: string, local: LocalScripts, release: string): string | undefined {
  const entry = CATALOG.get(name);
  if (!entry) return `${name} is not in scangate's script catalog`;
  const mine = local.categories.get(name);
  if (!mine) return `this runner's nmap ${local.version ?? '(unknown version)'} does not ship ${name}`;
  const recorded = categoriesAt(entry.facts, release);
  if (!recorded || !same(mine, [...recorded].sort())) {
    return `this runner's nmap tags ${name} as ${mine.join(', ')}, but the catalog records ${recorded?.join(', ') ?? 'nothing'} for nmap ${release}`;
  }
  return undefined;
}

/**
 * The scripts `-sV` makes this nmap run by itself: nse_main.lua adds the `version` category whenever version
 * detection is on, so they never appear in the argv. Sorted by name.
 */
export function implicitVersionScripts(local: LocalScripts): string[] {
  return [...local.categories]
    .filter(([, categories]) => categories.includes('version'))
    .map(([name]) => name)
    .sort();
}

/**
 * Checks the scripts of a dispatched argv against this runner's nmap: the ones named after `--script`, and the
 * ones `-sV` runs implicitly, each of which must be known, tagged as the catalog records and of a class the
 * policy (with this runner's consent) allows.
 */
export function checkScripts(
  argv: readonly string[],
  local: LocalScripts | undefined,
  allowIntrusive: boolean,
): ScanError | undefined {
  const dashes = argv.indexOf('--');
  const options = dashes >= 0 ? argv.slice(0, dashes) : argv;
  const at = options.indexOf('--script');
  const versionScan = options.includes('-sV');
  if (at < 0 && !versionScan) return undefined;
  if (!local) {
    return scanError(
      'validation_error',
      "This runner could not list its nmap's scripts, so it runs no scans with scripts or -sV",
      'Run `scangate-runner doctor` on the lab host; other scans still run.',
    );
  }
  const { release } = catalogReleaseFor(local.version);
  for (const name of at < 0 ? [] : (options[at + 1] ?? '').split(',')) {
    const problem = scriptProblem(name, local, release);
    if (problem) {
      return scanError(
        'validation_error',
        `This runner refuses script ${name}: ${problem}`,
        'Leave the script out, or run the scan on a runner whose nmap matches the catalog (see `scangate-runner doctor`).',
        {
          details: { script: name },
        },
      );
    }
  }
  if (versionScan) {
    for (const name of implicitVersionScripts(local)) {
      const problem = scriptProblem(name, local, release) ?? classProblem(name, allowIntrusive);
      if (problem) {
        return scanError(
          'validation_error',
          `This runner refuses -sV: its nmap ${local.version ?? ''} runs version script ${name} with every -sV, and ${problem}`,
          "Scan without -sV here, or on a runner whose version scripts the policy allows (see `scangate-runner doctor`); an intrusive one needs allowIntrusive and the runner's --allow-intrusive.",
          {
            details: { script: name, option: '-sV' },
          },
        );
      }
    }
  }
  return undefined;
}

function classProblem(name: string, allowIntrusive: boolean): string | undefined {
  const entry = CATALOG.get(name)!;
  return classAllowed(entry.class, allowIntrusive) ? undefined : `the catalog classes it ${entry.class} (${entry.why})`;
}

/** One line for doctor: how this nmap's scripts compare with the catalog. */
export function describeCoverage(local: LocalScripts): { ok: boolean; detail: string } {
  const { release, covered } = catalogReleaseFor(local.version);
  const unknown = [...local.categories.keys()].filter((n) => !CATALOG.has(n));
  const differing = [...local.categories.keys()].filter((n) => CATALOG.has(n) && scriptProblem(n, local, release));
  const refused = unknown.length + differing.length;
  const parts = [`nmap ${local.version ?? '(unknown version)'}: ${local.categories.size} scripts`];
  parts.push(
    `${unknown.length} unknown to this runner's catalog${unknown.length ? ` (${unknown.slice(0, 5).join(', ')}${unknown.length > 5 ? ', …' : ''})` : ''}`,
  );
  if (differing.length) parts.push(`${differing.length} tagged differently (${differing.slice(0, 5).join(', ')})`);
  const version = implicitVersionScripts(local);
  const gated = version.filter((n) => CATALOG.has(n) && CATALOG.get(n)!.class !== 'target-only');
  let detail = `${parts.join(', ')}${refused ? ': refused' : ''}; -sV runs ${version.length} version scripts${gated.length ? ` (${gated.join(', ')} not target-only: -sV needs consent here)` : ', all target-only'}`;
  if (!covered)
    detail += `; the catalog covers nmap ${CATALOG_RELEASES[0]}–${CATALOG_RELEASES.at(-1)}, checked against ${release}`;
  return { ok: covered && refused === 0, detail };
}
