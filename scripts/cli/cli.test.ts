import { describe, expect, it } from 'vitest';
import { formatError, formatScan, progressBar, safeText, table, type ScanView } from './render.ts';
import { sseEvents } from './sse.ts';
import { cliSuggestion, looseNmapOptions, translated } from './wording.ts';

async function collect(chunks: string[]) {
  async function* source() {
    yield* chunks;
  }
  const out = [];
  for await (const event of sseEvents(source())) out.push(event);
  return out;
}

describe('SSE parsing', () => {
  const stream =
    'id: 1\nevent: queued\ndata: {"a":1}\n\n: comment\nid: 2\nevent: output\ndata: line one\ndata: line two\n\nid: 3\ndata: plain\n\n';

  it('yields the same events whatever the chunk boundaries', async () => {
    const whole = await collect([stream]);
    expect(whole).toEqual([
      { id: '1', event: 'queued', data: '{"a":1}' },
      { id: '2', event: 'output', data: 'line one\nline two' },
      { id: '3', event: 'message', data: 'plain' },
    ]);
    for (let size = 1; size < 12; size++) {
      const chunks = stream.match(new RegExp(`[\\s\\S]{1,${size}}`, 'g'))!;
      expect(await collect(chunks)).toEqual(whole);
    }
    expect(await collect([stream.replace(/\n/g, '\r\n')])).toEqual(whole);
  });

  it('drops an event the stream cut off before its blank line', async () => {
    expect(await collect(['id: 1\ndata: done\n\nid: 2\ndata: cut'])).toHaveLength(1);
  });
});

describe('terminal rendering', () => {
  it('replaces control characters from the network so they cannot drive the terminal', () => {
    expect(safeText('OpenSSH\u001b]0;pwned\u0007 9.2')).toBe('OpenSSH\ufffd]0;pwned\ufffd 9.2');
    expect(safeText('a\nb\tc')).toBe('a b c');
    expect(safeText('a\nb', true)).toBe('a\nb');
    expect(table(['H'], [['x\u001b[2Jy']])).not.toContain('\u001b');
  });

  it('pads table columns and draws a bounded progress bar', () => {
    expect(
      table(
        ['HOST', 'PORT'],
        [
          ['127.0.0.1', '22/tcp'],
          ['::1', '80/tcp'],
        ],
      ).split('\n'),
    ).toEqual(['HOST       PORT', '---------  ------', '127.0.0.1  22/tcp', '::1        80/tcp']);
    expect(progressBar(50, 'syn', 10)).toBe('[#####.....]  50%  syn');
    expect(progressBar(250, '', 4)).toBe('[####] 100%');
    expect(progressBar(-3, '', 4)).toBe('[....]   0%');
  });

  it('prints an error with what to do about it', () => {
    expect(
      formatError({
        type: 'circuit_breaker_open',
        message: 'Runner r1 is failing',
        recoverySuggestion: 'Wait.',
        retryAfterSec: 30,
      }),
    ).toBe('error (circuit_breaker_open): Runner r1 is failing\n  what to do: Wait.\n  retry after: 30 s');
  });
});

describe('CLI wording', () => {
  const own = new Set(['--template', '--args', '--json', '--timeout', '--output', '--url', '--token']);

  it('turns nmap options typed loose into the --args command meant', () => {
    expect(looseNmapOptions(['127.0.0.5', '-p', '80'], own)?.suggestion).toBe('scangate scan 127.0.0.5 --args "-p 80"');
    expect(looseNmapOptions(['127.0.0.5', '--timeout', '30', '-sV', '--script=banner'], own)?.suggestion).toBe(
      'scangate scan 127.0.0.5 --timeout 30 --args "-sV --script=banner"',
    );
    expect(looseNmapOptions(['10.0.0.1', '10.0.0.2', '--args', '-p 80', '--json'], own)).toBeUndefined();
    expect(looseNmapOptions(['127.0.0.5', '-p', '$(id)'], own)?.suggestion).toBe(
      'scangate scan 127.0.0.5 --args "-p \\$(id)"',
    );
  });

  it('words fixes per error type for the CLI, and translates API names in the rest', () => {
    expect(
      cliSuggestion(
        { type: 'not_found', message: 'No scan x', recoverySuggestion: 'List your scans with GET /v1/scans.' },
        'get',
      ),
    ).toBe('run `scangate list` to see your scans and their ids');
    expect(
      cliSuggestion(
        { type: 'forbidden', message: 'Needs admin', recoverySuggestion: 'Use an admin token.' },
        'breakers',
      ),
    ).toMatch(/^`scangate breakers` needs an admin token/);
    expect(
      cliSuggestion({ type: 'conflict', message: 'Scan ended', recoverySuggestion: 'Nothing to cancel.' }, 'cancel'),
    ).toBe('Nothing to cancel.');
    expect(
      cliSuggestion(
        {
          type: 'validation_error',
          message: 'Unknown or unsupported option --x',
          recoverySuggestion: 'See list_templates / the README for the options scangate accepts.',
          details: { option: '--x' },
        },
        'scan',
      ),
    ).toMatch(/`scangate help scan`/);
    expect(translated('Leave it out, or ask an admin to set allowIntrusive in the policy (PUT /v1/policy).')).toBe(
      'Leave it out, or ask an admin to set allowIntrusive in the policy (on the dashboard).',
    );
  });

  it('shows a running scan’s progress and its warnings', () => {
    const scan: ScanView = {
      id: 'scan_1',
      status: 'running',
      targets: ['127.0.0.1'],
      argv: ['-sT'],
      durationMs: null,
      exitCode: null,
      truncated: { stdout: false, stderr: false },
      error: null,
      report: null,
      warnings: ['-p 80 replaces --top-ports 100 of template quick'],
      progress: { percent: 40, phase: 'Connect Scan', etaSec: 12 },
    };
    expect(formatScan(scan).split('\n')).toEqual([
      'scan scan_1: running',
      '  nmap -sT',
      `  progress ${progressBar(40, 'Connect Scan, ~12 s left')}`,
      '  warning: -p 80 replaces --top-ports 100 of template quick',
    ]);
    expect(formatScan({ ...scan, status: 'queued', progress: null }, { warnings: false }).split('\n')[2]).toBe(
      '  waiting for a runner',
    );
  });
});
