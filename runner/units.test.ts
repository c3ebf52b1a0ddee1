import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseRunnerFrame, encodeRunnerFrame, utf8ByteLength } from '../shared/protocol/index.ts';
import { reconnectDelayMs } from './backoff.ts';
import { OutputBatcher } from './batcher.ts';
import { JobJournal } from './journal.ts';
import { parseProgressLine } from './progress.ts';

describe('parseProgressLine', () => {
  it('reads phase, percent and time remaining from nmap stats lines', () => {
    expect(parseProgressLine('Connect Scan Timing: About 30.20% done; ETC: 07:14 (0:00:05 remaining)')).toEqual({
      phase: 'Connect Scan',
      percent: 30.2,
      etaSec: 5,
    });
    expect(parseProgressLine('Service scan Timing: About 50.00% done; ETC: 09:01 (1:02:03 remaining)')).toEqual({
      phase: 'Service scan',
      percent: 50,
      etaSec: 3723,
    });
    expect(parseProgressLine('NSE Timing: About 99.15% done')).toEqual({ phase: 'NSE', percent: 99.15 });
  });

  it('ignores every other line', () => {
    for (const line of [
      'Stats: 0:00:02 elapsed; 0 hosts completed (1 up)',
      '80/tcp open http',
      '',
      'Timing: About 5% done',
    ]) {
      expect(parseProgressLine(line)).toBeUndefined();
    }
  });
});

describe('reconnectDelayMs', () => {
  it('draws from [0, min(cap, base·2^n)) with full jitter', () => {
    const at = (attempt: number, r: number) =>
      reconnectDelayMs(attempt, { baseMs: 1000, capMs: 60_000, random: () => r });
    expect(at(0, 0.999)).toBe(999);
    expect(at(3, 0.5)).toBe(4000);
    expect(at(6, 0.999)).toBe(59_940);
    expect(at(50, 0.999)).toBe(59_940);
    expect(at(5, 0)).toBe(0);
  });
});

describe('JobJournal', () => {
  it('numbers output from 1, keeps it until acked, then keeps the result until its own ack', () => {
    const journal = new JobJournal('j1');
    expect(journal.append('stdout', 'a').seq).toBe(1);
    expect(journal.append('stderr', 'b').seq).toBe(2);
    journal.ack(1);
    expect(journal.pending().map((f) => (f.type === 'job.output' ? f.seq : f.type))).toEqual([2]);
    const finished = journal.finish({
      exitCode: 0,
      signal: null,
      timedOut: false,
      cancelled: false,
      durationMs: 5,
      truncated: { stdout: false, stderr: false },
      report: null,
      error: null,
    });
    expect(finished.lastSeq).toBe(2);
    expect(parseRunnerFrame(encodeRunnerFrame(finished)).ok).toBe(true);
    journal.ack(2);
    expect(journal.pending().map((f) => f.type)).toEqual(['job.finished']);
    expect(journal.settled).toBe(false);
    journal.ack(3);
    expect(journal.pending()).toEqual([]);
    expect(journal.settled).toBe(true);
  });

  it('ignores stale acks', () => {
    const journal = new JobJournal('j1');
    journal.append('stdout', 'a');
    journal.append('stdout', 'b');
    journal.ack(2);
    journal.ack(1);
    expect(journal.pending()).toEqual([]);
  });
});

describe('OutputBatcher', () => {
  afterEach(() => vi.useRealTimers());

  function collect(caps = { stdout: 1 << 20, stderr: 1 << 18 }) {
    const chunks: Array<[string, string]> = [];
    const batcher = new OutputBatcher({ caps, onChunk: (s, d) => chunks.push([s, d]) });
    return { chunks, batcher };
  }

  it('sends output after a quiet spell at once, and batches what follows within 250 ms', () => {
    vi.useFakeTimers();
    const { chunks, batcher } = collect();
    batcher.write('stdout', Buffer.from('Starting Nmap\n'));
    batcher.write('stdout', Buffer.from('Nmap scan report\n'));
    vi.advanceTimersByTime(0);
    expect(chunks).toEqual([['stdout', 'Starting Nmap\nNmap scan report\n']]);
    vi.advanceTimersByTime(10);
    batcher.write('stdout', Buffer.from('a'));
    vi.advanceTimersByTime(100);
    batcher.write('stdout', Buffer.from('b'));
    vi.advanceTimersByTime(139);
    expect(chunks).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(chunks).toEqual([
      ['stdout', 'Starting Nmap\nNmap scan report\n'],
      ['stdout', 'ab'],
    ]);
    vi.advanceTimersByTime(1000);
    batcher.write('stdout', Buffer.from('later\n'));
    vi.advanceTimersByTime(0);
    expect(chunks.at(-1)).toEqual(['stdout', 'later\n']);
  });

  it('splits big output into chunks of at most 64 KiB, with nothing lost', () => {
    const { chunks, batcher } = collect();
    const text = 'é✓x'.repeat(60_000);
    const bytes = Buffer.from(text);
    for (let i = 0; i < bytes.length; i += 4093) batcher.write('stdout', bytes.subarray(i, i + 4093));
    batcher.flush(true);
    expect(chunks.map(([, d]) => d).join('')).toBe(text);
    for (const [, d] of chunks) expect(utf8ByteLength(d)).toBeLessThanOrEqual(64 * 1024);
    expect(chunks.length).toBeGreaterThan(5);
  });

  it('reassembles a character split across reads', () => {
    const { chunks, batcher } = collect();
    const bytes = Buffer.from('✓');
    batcher.write('stderr', bytes.subarray(0, 1));
    batcher.write('stderr', bytes.subarray(1));
    batcher.flush(true);
    expect(chunks).toEqual([['stderr', '✓']]);
  });

  it('stops at the cap, flags the stream as truncated and keeps draining', () => {
    const { chunks, batcher } = collect({ stdout: 10, stderr: 100 });
    batcher.write('stdout', Buffer.from('0123456789abcdef'));
    batcher.write('stdout', Buffer.from('more'));
    batcher.write('stderr', Buffer.from('warn'));
    batcher.flush(true);
    expect(chunks).toEqual([
      ['stdout', '0123456789'],
      ['stderr', 'warn'],
    ]);
    expect(batcher.truncated).toEqual({ stdout: true, stderr: false });
  });
});
