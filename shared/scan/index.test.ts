import { describe, expect, it } from 'vitest';
import {
  ACTIVE_STATUSES,
  isActive,
  isTerminal,
  SCAN_ID_PATTERN,
  SCAN_STATUSES,
  scanNotFound,
  TERMINAL,
  TERMINAL_STATUSES,
} from './index.ts';

describe('the Scan model', () => {
  it('splits every status into still under way or ended, never both', () => {
    expect([...ACTIVE_STATUSES, ...TERMINAL_STATUSES].sort()).toEqual([...SCAN_STATUSES].sort());
    expect(SCAN_STATUSES.filter(isActive)).toEqual(['queued', 'dispatched', 'running']);
    expect(SCAN_STATUSES.filter(isTerminal)).toEqual(['succeeded', 'failed', 'cancelled', 'rejected']);
    expect(SCAN_STATUSES.filter((s) => TERMINAL.has(s))).toEqual(SCAN_STATUSES.filter(isTerminal));
  });

  it('knows no status a client might misread', () => {
    expect(isTerminal('done')).toBe(false);
    expect(isActive('Running')).toBe(false);
  });

  it('accepts scan ids and nothing that could be a path or a query', () => {
    expect(SCAN_ID_PATTERN.test('scan_Ab3-_x')).toBe(true);
    for (const bad of ['scan_', 'scan_../x', 'scan_a?b', 'tok_abc', `scan_${'a'.repeat(33)}`])
      expect(SCAN_ID_PATTERN.test(bad), bad).toBe(false);
  });

  it('answers a missing scan with one not_found that names the id and how to find scans', () => {
    expect(scanNotFound('scan_nope')).toEqual({
      type: 'not_found',
      message: 'No scan scan_nope',
      recoverySuggestion: 'List your scans with GET /v1/scans.',
    });
  });
});
