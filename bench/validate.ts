/**
 * Validation speed over the public corpus mix: validations per second on one core, and p50/p99 latency per
 * call. Goal (issue 2): ≥ 150,000/s and p99 < 50 µs. Run with `npm run bench:validate`.
 *
 * Throughput is timed over whole batches (no timer in the loop); latency is timed call by call in a
 * separate pass, so the timer's own cost shows up only in the percentiles.
 */
import { readFileSync } from 'node:fs';
import { resolvePolicy, validateScanRequest, type Policy } from '../shared/policy/index.ts';
import { isMain, printRows, type BenchRow } from './lib.ts';

interface CorpusCase {
  input: unknown;
  policy?: Record<string, unknown>;
}

const corpus = JSON.parse(
  readFileSync(new URL('../test/fixtures/validation.json', import.meta.url).pathname, 'utf8'),
) as { cases: CorpusCase[] };
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

export async function run(): Promise<BenchRow[]> {
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
  console.log(
    `validate: ${mix.length} corpus cases, ${calls.toLocaleString('en-US')} calls in ${(Number(elapsed) / 1e9).toFixed(2)} s, node ${process.version}`,
  );
  if (sink < 0) console.log(sink);
  return [
    {
      bench: 'validate',
      metric: 'validations/s (1 core)',
      value: Math.round(perSecond).toLocaleString('en-US'),
      goal: '≥ 150,000',
      met: perSecond >= 150_000,
    },
    { bench: 'validate', metric: 'p50 µs/call', value: pct(50).toFixed(2) },
    { bench: 'validate', metric: 'p99 µs/call', value: pct(99).toFixed(2), goal: '< 50', met: pct(99) < 50 },
    {
      bench: 'validate',
      metric: '× the Python original (~31,000/s, quoted)',
      value: (perSecond / PYTHON_ORIGINAL_PER_SECOND).toFixed(1),
    },
  ];
}

if (isMain(import.meta.url)) printRows(await run());
