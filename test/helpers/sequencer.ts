import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Seconds a file holds one of the Vitest workers in `npm test` (its tests plus its beforeAll: wrangler dev,
 * Chromium, a single-executable build), measured on the 2-core machine with both cores busy. Only the order uses it:
 * the longest files start first and the short ones fill in at the end, so the workers finish together (longest
 * processing time first). Vitest's own order is by file size when it has no timings from an earlier run (as in a
 * fresh CI clone): it ran all Node files before any Worker one and started the breaker test (30 s of waiting for
 * its half-open alarm) near the end, with one worker idle behind it.
 * Refresh from a run: `npx vitest run --reporter=json --outputFile=/tmp/vt.json`, then each file's endTime - startTime
 * plus the time before its first test. A file not listed is costed by its kind (defaultCost).
 */
const COST: Record<string, number> = {
  'test/nse-script-help.test.ts': 60,
  'test/nse-containment.test.ts': 55,
  'test/e2e/dashboard.browser.test.ts': 53,
  'test/e2e/link-faults.e2e.test.ts': 43,
  'test/e2e/mcp-long-scan.e2e.test.ts': 42,
  'test/e2e/breaker.e2e.test.ts': 40,
  'test/e2e/surfaces.e2e.test.ts': 34,
  'test/e2e/runner-sea.e2e.test.ts': 30,
  'test/e2e/history.e2e.test.ts': 28,
  'test/e2e/mcp-oauth.e2e.test.ts': 27,
  'test/e2e/alerts.e2e.test.ts': 25,
  'scripts/cli/cli.e2e.test.ts': 28,
  'test/runner-process.test.ts': 25,
  'test/e2e/runner-install.e2e.test.ts': 23,
  'test/e2e/runner-faults.e2e.test.ts': 23,
  'test/e2e/start.e2e.test.ts': 22,
  'worker/test/output.test.ts': 20,
  'test/e2e/xml-export.e2e.test.ts': 18,
  'test/e2e/runner-doctor.e2e.test.ts': 19,
  'test/e2e/mcp-clients.e2e.test.ts': 18,
  'test/runner-fence.test.ts': 17,
  'test/e2e/sse-fanout.e2e.test.ts': 17,
  'test/nmap-grammar.test.ts': 15,
  'worker/test/audit.test.ts': 13,
  'worker/test/scans.test.ts': 12,
  'worker/test/link.test.ts': 11,
  'worker/http/mcp/mcp.test.ts': 10,
  'scripts/node-gate.test.ts': 9,
  'worker/test/fairness.test.ts': 9,
  'worker/test/fuzz.test.ts': 9,
  'worker/test/enrollment.test.ts': 9,
  'worker/http/mcp/mcp-errors.test.ts': 8,
  'worker/http/auth.test.ts': 8,
  'worker/test/fence.test.ts': 8,
  'worker/domain/login-throttle.test.ts': 8,
  'shared/policy/property.test.ts': 7,
  'worker/http/dashboard/dashboard.test.tsx': 7,
  'runner/update.test.ts': 6,
  'runner/executor.test.ts': 6,
  'runner/doctor.test.ts': 5,
  'runner/link.test.ts': 4,
};
/**
 * A new end-to-end file starts wrangler dev (about 10 s) and scans: it must not start last, behind everything else.
 * Worker-project files start a workerd of their own and load the whole app into it; most other Node files are quick.
 */
function defaultCost(spec: TestSpecification): number {
  if (/\.(e2e|browser)\.test\.tsx?$/.test(spec.moduleId)) return 20;
  return spec.project.name === 'worker' ? 5 : 1;
}

export class LongestFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const cost = (spec: TestSpecification) =>
      COST[relative(spec.project.config.root, spec.moduleId)] ?? defaultCost(spec);
    // Array.prototype.sort is stable: files of equal cost keep Vitest's order (timings of an earlier run, or size).
    return (await super.sort(files)).sort((a, b) => cost(b) - cost(a));
  }
}
