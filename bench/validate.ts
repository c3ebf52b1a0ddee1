/**
 * Validation speed over the public corpus mix: validations per second on one core, and p50/p99 latency per
 * call. Goal (issue 2): ≥ 150,000/s and p99 < 50 µs. Run with `npm run bench:validate`.
 *
 * Throughput is timed over whole batches (no timer in the loop); latency is timed call by call in a
 * separate pass, so the timer's own cost shows up only in the percentiles.
 */
import { readFileSync } from 'node:fs';
import { resolvePolicy, validateScanRequest, type Policy } from '../shared/policy/index.ts';

interface CorpusCase {
  input: unknown;
  policy?: Record<string, unknown>;
}

const corpus = JSON.parse(readFileSync(new URL('../test/fixtures/validation.json', import.meta.url).pathname, 'utf8')) as { cases: CorpusCase[] };
const mix: Array<[unknown, Policy]> = corpus.cases.map((c) => {
  const r = resolvePolicy(c.policy ?? {});
  if (!r.ok) throw new Error(r.error.message);
  return [c.input, r.policy];
});

const seconds = Number(process.env.BENCH_SECONDS ?? 2);
let sink = 0;

function batch(rounds: number): void {
  for (let r = 0; r < rounds; r++) {
    for (const [input, policy] of mix) sink += validateScanRequest(input, policy).ok ? 1 : 0;
  }
}

// Warm up so the JIT has settled before anything is timed.
batch(2000);

const rounds = 200;
let calls = 0;
const start = process.hrtime.bigint();
let elapsed = 0n;
while (elapsed < BigInt(seconds * 1e9)) {
  batch(rounds);
  calls += rounds * mix.length;
  elapsed = process.hrtime.bigint() - start;
}
const perSecond = calls / (Number(elapsed) / 1e9);

const samples = new Float64Array(Math.min(calls, 500_000));
for (let i = 0; i < samples.length; i++) {
  const [input, policy] = mix[i % mix.length]!;
  const t0 = process.hrtime.bigint();
  sink += validateScanRequest(input, policy).ok ? 1 : 0;
  samples[i] = Number(process.hrtime.bigint() - t0) / 1000;
}
samples.sort();
const pct = (p: number) => samples[Math.min(samples.length - 1, Math.floor((p / 100) * samples.length))]!;

const PYTHON_ORIGINAL_PER_SECOND = 31_000; // quoted in issue 2, not measured here
const rows = [
  ['metric', 'measured', 'goal', 'ok'],
  ['validations/s (1 core)', Math.round(perSecond).toLocaleString('en-US'), '≥ 150,000', perSecond >= 150_000 ? 'yes' : 'NO'],
  ['p50 µs/call', pct(50).toFixed(2), '', ''],
  ['p99 µs/call', pct(99).toFixed(2), '< 50', pct(99) < 50 ? 'yes' : 'NO'],
  ['p99.9 µs/call', pct(99.9).toFixed(2), '', ''],
  ['× Python original (31,000/s, quoted)', (perSecond / PYTHON_ORIGINAL_PER_SECOND).toFixed(1), '', ''],
];
const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
console.log(`validate: ${mix.length} corpus cases, ${calls.toLocaleString('en-US')} calls in ${(Number(elapsed) / 1e9).toFixed(2)} s, node ${process.version}`);
for (const row of rows) console.log(row.map((cell, i) => cell.padEnd(widths[i]!)).join('  '));
if (sink < 0) console.log(sink);
