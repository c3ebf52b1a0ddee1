import { describe, expect, it } from 'vitest';
import corpus from '../../test/fixtures/validation.json' with { type: 'json' };
import { resolvePolicy, validateScanRequest } from './index.ts';

interface CorpusCase {
  id: string;
  input: unknown;
  policy?: Record<string, unknown>;
  expect: 'accept' | 'reject';
  targets?: string[];
}

const cases = (corpus as { cases: CorpusCase[] }).cases;

describe('public validation corpus', () => {
  it('has cases to run', () => {
    expect(cases.length).toBeGreaterThan(80);
  });

  it.each(cases.map((c) => [c.id, c] as const))('%s', (_id, c) => {
    const resolved = resolvePolicy(c.policy ?? {});
    if (!resolved.ok) throw new Error(resolved.error.message);
    const result = validateScanRequest(c.input, resolved.policy);
    if (c.expect === 'accept') {
      expect(result.ok ? 'accepted' : result.error.message).toBe('accepted');
      if (!result.ok) return;
      const dashes = result.argv.indexOf('--');
      expect(result.argv.lastIndexOf('--')).toBe(dashes);
      if (c.targets) expect(result.argv.slice(dashes + 1)).toEqual(c.targets);
    } else {
      expect(result.ok).toBe(false);
      if (result.ok) return;
      expect(result.error.type).toBe('validation_error');
      expect(result.error.message.length).toBeGreaterThan(10);
      expect(result.error.recoverySuggestion.length).toBeGreaterThan(10);
    }
  });
});
