/**
 * Regenerates shared/policy/catalog/nmap-facts.json from nmap itself: every script nmap ships in the releases
 * the catalog covers, with the categories each release's script.db gives it, the rules it defines, the script
 * arguments its source reads or documents, and whether it needs raw sockets. Then makes sure
 * shared/policy/catalog/review.json has an entry for every script: a new one gets the class the facts alone
 * imply and `why: "UNREVIEWED"`, which fails the catalog tests until a person has read the script and written
 * the review (class, why, allowed arguments). Existing reviews are never changed here.
 *
 *   node scripts/catalog/generate.ts --git /path/to/nmap.git        # a clone of github.com/nmap/nmap
 *   node scripts/catalog/generate.ts --datadir /usr/share/nmap --version 7.93
 *
 * To cover a new nmap release: add it to RELEASES (the commit that merged its release branch), run this,
 * review every UNREVIEWED entry, and run `npm test`.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { compareVersions, factReason, floorClass, type ScriptFacts } from '../../shared/policy/catalog/classes.ts';

/** nmap 7.9x releases and the commit in github.com/nmap/nmap whose tree is that release. */
const RELEASES: ReadonlyArray<readonly [string, string]> = [
  ['7.90', 'ef8213a36'],
  ['7.91', '9529327f5'],
  ['7.92', 'dd82097c8'],
  ['7.93', '9732e6979'],
  ['7.94', '72d67cf40'],
  ['7.95', '95b974b10'],
  ['7.96', 'c66baf785'],
  ['7.97', 'ec3b1d264'],
  ['7.98', '72b683006'],
  ['7.99', 'deb076224'],
];

const HERE = join(dirname(fileURLToPath(import.meta.url)), '../../shared/policy/catalog');
const ENTRY = /^Entry \{ filename = "([^"]+)\.nse", categories = \{ (.*) \} \}$/;

/** script.db text → name → sorted categories. */
export function parseScriptDb(text: string): Map<string, string[]> {
  const db = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const m = ENTRY.exec(line.trim());
    if (m) db.set(m[1]!, [...m[2]!.matchAll(/"([^"]+)"/g)].map((c) => c[1]!).sort());
  }
  return db;
}

/** `portrule = …`, `function hostrule(…)`, and lists like `action, portrule, hostrule = lib.InitScript(…)`, not `local`. */
const ASSIGNMENT = /^\s*([A-Za-z_][\w]*(?:\s*,\s*[A-Za-z_][\w]*)*)\s*=(?!=)/;
const RULE_FUNCTION = /^\s*function\s+(prerule|postrule|portrule|hostrule)\s*\(/;
const RULES = new Set(['prerule', 'postrule', 'portrule', 'hostrule']);

function findRules(source: string): string[] {
  const found = new Set<string>();
  for (const line of source.split('\n')) {
    const fn = RULE_FUNCTION.exec(line);
    if (fn) found.add(fn[1]!);
    const assigned = ASSIGNMENT.exec(line);
    if (assigned) for (const name of assigned[1]!.split(',')) if (RULES.has(name.trim())) found.add(name.trim());
  }
  return [...found].sort();
}
const DOC_ARG = /@args\s+([A-Za-z0-9_.-]+)/g;
const CODE_CALL = /get_script_args\s*\(([^)]*)\)/g;
const RAW = /nmap\.is_privileged\s*\(|new_dnet\s*\(|pcap_open\s*\(/;

/** What a script's source says about itself: its rules, the argument keys it reads or documents, raw sockets. */
const REQUIRE = /\brequire\s*\(?\s*["']([A-Za-z0-9_.]+)["']/g;

export function readSource(name: string, source: string): Pick<ScriptFacts, 'rules' | 'args' | 'raw' | 'libs'> {
  const rules = findRules(source);
  const args = new Set<string>();
  for (const m of source.matchAll(DOC_ARG)) args.add(m[1]!.replace(/^SCRIPT_NAME\./, `${name}.`));
  for (const call of source.matchAll(CODE_CALL)) {
    for (const lit of call[1]!.matchAll(/(SCRIPT_NAME\s*\.\.\s*)?["']([A-Za-z0-9_.-]+)["']/g)) {
      args.add(lit[1] ? `${name}${lit[2]!.startsWith('.') ? '' : '.'}${lit[2]}` : lit[2]!);
    }
  }
  const libs = [...new Set([...source.matchAll(REQUIRE)].map((m) => m[1]!))].sort();
  return { rules, args: [...args].sort(), raw: RAW.test(source), libs };
}

function git(repo: string, ...args: string[]): string {
  return execFileSync('git', ['-C', repo, ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
}

interface Release {
  version: string;
  db: Map<string, string[]>;
  source: (name: string) => string;
}

function releasesFromGit(repo: string): Release[] {
  return RELEASES.map(([version, commit]) => ({
    version,
    db: parseScriptDb(git(repo, 'show', `${commit}:scripts/script.db`)),
    source: (name) => git(repo, 'show', `${commit}:scripts/${name}.nse`),
  }));
}

function releaseFromDir(datadir: string, version: string): Release {
  const dir = join(datadir, 'scripts');
  readdirSync(dir);
  return {
    version,
    db: parseScriptDb(readFileSync(join(dir, 'script.db'), 'utf8')),
    source: (name) => readFileSync(join(dir, `${name}.nse`), 'utf8'),
  };
}

/** Merges releases (oldest first) into one facts record per script; the newest source describes the script. */
export function buildFacts(releases: Release[]): Record<string, ScriptFacts> {
  const names = [...new Set(releases.flatMap((r) => [...r.db.keys()]))].sort();
  const facts: Record<string, ScriptFacts> = {};
  for (const name of names) {
    const shipped = releases.filter((r) => r.db.has(name));
    const newest = shipped.at(-1)!;
    // Categories are recorded at the first release that ships the script and wherever they change.
    const categories: ScriptFacts['categories'] = {};
    let last = '';
    for (const r of shipped) {
      const now = r.db.get(name)!;
      if (now.join() !== last) categories[r.version] = now;
      last = now.join();
    }
    facts[name] = { categories, ...readSource(name, newest.source(name)) };
  }
  return facts;
}

function main(): void {
  const { values } = parseArgs({
    options: { git: { type: 'string' }, datadir: { type: 'string' }, version: { type: 'string' } },
  });
  const releases = values.git ? releasesFromGit(values.git) : [];
  if (values.datadir) {
    if (!values.version) throw new Error('--datadir needs --version (nmap --version of that install)');
    const local = releaseFromDir(values.datadir, values.version);
    const at = releases.findIndex((r) => r.version === local.version);
    if (at >= 0) releases[at] = local;
    else releases.push(local);
    releases.sort((a, b) => compareVersions(a.version, b.version));
  }
  if (releases.length === 0) throw new Error('give --git <nmap clone> and/or --datadir <dir> --version <v>');
  const facts = buildFacts(releases);
  const lines = Object.entries(facts).map(([name, f]) => ` ${JSON.stringify(name)}: ${JSON.stringify(f)}`);
  const covered = { releases: releases.map((r) => r.version), scripts: facts };
  writeFileSync(
    join(HERE, 'nmap-facts.json'),
    `{"releases": ${JSON.stringify(covered.releases)}, "scripts": {\n${lines.join(',\n')}\n}}\n`,
  );

  const reviewUrl = join(HERE, 'review.json');
  const review = JSON.parse(readFileSync(reviewUrl, 'utf8')) as Record<string, unknown>;
  let added = 0;
  for (const [name, f] of Object.entries(facts)) {
    if (review[name]) continue;
    review[name] = { class: floorClass(name, f), why: factReason(name, f) ?? 'UNREVIEWED', args: {} };
    added++;
  }
  const sorted = Object.fromEntries(Object.entries(review).sort(([a], [b]) => a.localeCompare(b)));
  writeFileSync(reviewUrl, `${JSON.stringify(sorted, null, 1)}\n`);
  console.log(
    `${Object.keys(facts).length} scripts from nmap ${releases.map((r) => r.version).join(', ')}; ${added} new to review`,
  );
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
