import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The lint configuration (biome.jsonc) enforces what the README promises: dependencies point one way (HTTP adapters
 * → objects → domain → storage; shared/ depends on no part; the runner not on the Worker), no import circles, erasable
 * TypeScript and one layout. Each rule is checked here on a small tree laid out like ours and linted by the real
 * Biome with the real config, so a rule that silently stops matching (a renamed option, a new Biome) fails a test.
 * The files assert only rules that stay once today's allowlist in biome.jsonc is emptied.
 */
const run = promisify(execFile);
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const BIOME = join(ROOT, 'node_modules', '@biomejs', 'biome', 'bin', 'biome');

const TREE: Record<string, string> = {
  'worker/http/app.ts': `export const app = 1;\n`,
  'worker/http/mcp/scan.tools.ts': `export const tools = 1;\n`,
  'worker/http/dashboard/views.tsx': `export const View = () => <p class="x">view</p>;\n`,
  'worker/env.ts': `export const env = 1;\n`,
  'shared/errors/index.ts': `export const errors = 1;\n`,
  'shared/policy/scripts.ts': `export const scripts = 1;\n`,
  // The core may use shared/ and storage, not an adapter.
  'worker/domain/scan.ts': [
    `import { errors } from '../../shared/errors/index.ts';`,
    `import { app } from '../http/app.ts';`,
    `export const scan = [errors, app];`,
    ``,
  ].join('\n'),
  'worker/objects/coordinator/jobs.ts': [
    `import { tools } from '../../http/mcp/scan.tools.ts';`,
    `export const jobs = [tools];`,
    ``,
  ].join('\n'),
  'worker/objects/coordinator.do.ts': [
    `import { tools } from '../http/mcp/scan.tools.ts';`,
    `export const coordinator = [tools];`,
    ``,
  ].join('\n'),
  'worker/storage/jobs.store.ts': [
    `import { View } from '../http/dashboard/views.tsx';`,
    `export const store = [View];`,
    ``,
  ].join('\n'),
  // An adapter may import anything below it.
  'worker/http/routes/scans.api.ts': [
    `import { scan } from '../../domain/scan.ts';`,
    `import { View } from '../dashboard/views.tsx';`,
    `export const route = [scan, View];`,
    ``,
  ].join('\n'),
  // shared/ may import shared/ (a file named scripts.ts is not the scripts/ folder) but no part.
  'shared/policy/validate.ts': [
    `import { scripts } from './scripts.ts';`,
    `import { env } from '../../worker/env.ts';`,
    `export const validate = [scripts, env];`,
    ``,
  ].join('\n'),
  'runner/link.ts': [
    `import { errors } from '../shared/errors/index.ts';`,
    `import { env } from '../worker/env.ts';`,
    `export const link = [errors, env];`,
    ``,
  ].join('\n'),
  // A value circle; and a type-only circle, which the compiler erases (Env ↔ Durable Object is one by design).
  'worker/circle-a.ts': `import { b } from './circle-b.ts';\nexport const a = () => b;\n`,
  'worker/circle-b.ts': `import { a } from './circle-a.ts';\nexport const b = () => a;\n`,
  'worker/types-a.ts': `import type { B } from './types-b.ts';\nexport interface A {\n  b?: B;\n}\n`,
  'worker/types-b.ts': `import type { A } from './types-a.ts';\nexport interface B {\n  a?: A;\n}\n`,
  // Not erasable: Node's type stripping cannot run these.
  'shared/status.ts': `export enum Status {\n  Queued,\n}\n`,
  // Formatting: double quotes and a line past 120 columns.
  'shared/long.ts': `export const words = ["${'a'.repeat(60)}", "${'b'.repeat(60)}"];\n`,
};

interface Diagnostic {
  category: string;
  severity: string;
  location?: { path?: string };
}

let dir = '';
let diagnostics: Diagnostic[] = [];

/** The rule names reported for one file, e.g. ['noRestrictedImports']. */
function rulesFor(path: string): string[] {
  return diagnostics
    .filter((d) => d.location?.path === path)
    .map((d) => d.category.split('/').at(-1) ?? d.category)
    .sort();
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'scangate-lint-'));
  cpSync(join(ROOT, 'biome.jsonc'), join(dir, 'biome.jsonc'));
  for (const [path, text] of Object.entries(TREE)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  // Biome exits 1 when it finds something, which is the point here: read its report either way.
  const out = await run(process.execPath, [BIOME, 'check', '--reporter=json', '--max-diagnostics=none', '.'], {
    cwd: dir,
  }).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }));
  diagnostics = (JSON.parse(out.stdout) as { diagnostics: Diagnostic[] }).diagnostics;
}, 60_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('npm run lint: layering', () => {
  it('stops the core (domain, objects, storage) from importing an HTTP adapter', () => {
    expect(rulesFor('worker/domain/scan.ts')).toEqual(['noRestrictedImports']);
    expect(rulesFor('worker/objects/coordinator/jobs.ts')).toEqual(['noRestrictedImports']);
    expect(rulesFor('worker/objects/coordinator.do.ts')).toEqual(['noRestrictedImports']);
    expect(rulesFor('worker/storage/jobs.store.ts')).toEqual(['noRestrictedImports']);
  });

  it('lets an adapter import the core and other adapters', () => {
    expect(rulesFor('worker/http/routes/scans.api.ts')).toEqual([]);
    expect(rulesFor('worker/http/dashboard/views.tsx')).toEqual([]);
  });

  it('stops shared/ from importing a part, and the runner from importing the Worker', () => {
    expect(rulesFor('shared/policy/validate.ts')).toEqual(['noRestrictedImports']);
    expect(rulesFor('runner/link.ts')).toEqual(['noRestrictedImports']);
  });

  it('reports a value import circle, not a type-only one', () => {
    expect(rulesFor('worker/circle-a.ts')).toEqual(['noImportCycles']);
    expect(rulesFor('worker/circle-b.ts')).toEqual(['noImportCycles']);
    expect(rulesFor('worker/types-a.ts')).toEqual([]);
    expect(rulesFor('worker/types-b.ts')).toEqual([]);
  });

  it('reports syntax that type stripping cannot run', () => {
    expect(rulesFor('shared/status.ts')).toEqual(['noEnum']);
  });

  it('checks the layout: single quotes, 120 columns', () => {
    expect(rulesFor('shared/long.ts')).toEqual(['format']);
    expect(rulesFor('shared/errors/index.ts')).toEqual([]);
  });
});
