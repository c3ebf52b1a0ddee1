import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, expectTypeOf, it } from 'vitest';
import type { Coordinator } from '../worker/objects/coordinator.do.ts';
import type { Directory } from '../worker/objects/directory.do.ts';

/**
 * The Durable Objects' RPC boundary stays typed: every stub method keeps its return type (workerd's stub types
 * turn a result with an `unknown` or a function in it into `never`), so callers take the stub's inferred types and
 * never cast. The type half is checked by `tsc --noEmit`; the grep half fails when a cast comes back at a call site.
 */

/** The names of a stub's methods whose results workerd's types could not serialize. */
type Collapsed<S> = {
  [K in keyof S]-?: S[K] extends (...args: never[]) => infer R ? ([Awaited<R>] extends [never] ? K : never) : never;
}[keyof S];

const ROOT = join(import.meta.dirname, '..');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'testing' ? [] : sources(path);
    return /\.tsx?$/.test(entry.name) && !/\.test\.tsx?$/.test(entry.name) && !/\.d\.ts$/.test(entry.name)
      ? [path]
      : [];
  });
}

/** A call on a stub: `getCoordinator(…).m(`, `getDirectory(…).m(`, or a stub held as `coordinator` / `#coordinator`. */
const STUB_CALL =
  /\b(?:getCoordinator|getDirectory)\((?:[^()]|\((?:[^()]|\([^()]*\))*\))*\)\.\w+\(|(?:^|[^\w.])#?coordinator\.\w+\(/g;
/** What a cast of an RPC result looks like: `as T` (but not `as const`), `<T>` on unwrap, or a result-casting helper. */
const CAST = /\bas\s+(?!const\b)[\w{[(]|\bunwrap<|\basResult\b/;

/** Each stub call with the text from the start of its line to the end of its statement (where `(await …) as T` ends). */
function stubCalls(text: string): Array<{ line: number; statement: string }> {
  return [...text.matchAll(STUB_CALL)].map((match) => {
    const start = text.lastIndexOf('\n', match.index) + 1;
    const end = text.slice(match.index).search(/;\s*(?:\n|$)|\n\s*\n/);
    return {
      line: text.slice(0, match.index).split('\n').length,
      statement: text.slice(start, end < 0 ? undefined : match.index + end + 1),
    };
  });
}

describe('the RPC boundary', () => {
  it('keeps every Coordinator and Directory stub method typed (none collapses to never)', () => {
    expectTypeOf<Collapsed<DurableObjectStub<Coordinator>>>().toEqualTypeOf<never>();
    expectTypeOf<Collapsed<DurableObjectStub<Directory>>>().toEqualTypeOf<never>();
  });

  it('has no cast at any call site of a Durable Object stub in worker/', () => {
    const files = sources(join(ROOT, 'worker'));
    const calls = files.flatMap((file) =>
      stubCalls(readFileSync(file, 'utf8')).map((call) => ({ at: `${relative(ROOT, file)}:${call.line}`, ...call })),
    );
    // The scan found the call sites (routes, dashboard, MCP, auth): a pattern that matched nothing would pass vacuously.
    expect(calls.length).toBeGreaterThan(30);
    expect(
      calls.filter((call) => CAST.test(call.statement)).map((call) => `${call.at}: ${call.statement.trim()}`),
    ).toEqual([]);
  });

  it('has no helper that casts a stub result', () => {
    const helpers = sources(join(ROOT, 'worker')).filter((file) =>
      /function (?:asResult|unwrap)<\w+>\(\w+: unknown/.test(readFileSync(file, 'utf8')),
    );
    expect(helpers.map((file) => relative(ROOT, file))).toEqual([]);
  });

  it('flags a cast reintroduced at a call site (the check can fail)', () => {
    const casts = [
      'const scan = unwrap<Scan>(await getCoordinator(c.env, pool).getScan(p, id));',
      'const samples = (await getCoordinator(c.env, pool).metricSamples()) as Array<Sample>;',
      'return (await this.#coordinator.mcpTaskList(this.#principal, cursor)) as unknown as Listed;',
      'const got = asResult<Scan>(await coordinator.getScan(principal, scanId));',
      'const { data } = (await getCoordinator(env, pool).readOutput(p, id, 0)\n  ) as Result<Page>;',
      "const b = unwrap<Breaker>(await getCoordinator(c.env, poolFor(c.var.principal, c.req.valid('query').pool)).breakerAction(name, action, actor));",
    ];
    for (const text of casts)
      expect(
        stubCalls(text).some((call) => CAST.test(call.statement)),
        text,
      ).toBe(true);
    expect(
      stubCalls('const scan = unwrap(await getCoordinator(c.env, pool).getScan(p, id));').some((call) =>
        CAST.test(call.statement),
      ),
    ).toBe(false);
  });
});
