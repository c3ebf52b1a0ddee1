import { describe, expect, it } from 'vitest';
import { compareVersions } from './classes.ts';

describe('compareVersions', () => {
  it('orders nmap releases numerically, ignoring a build suffix', () => {
    expect(['7.99', '7.9', '7.93', '7.100', '8.0'].sort(compareVersions)).toEqual([
      '7.9',
      '7.93',
      '7.99',
      '7.100',
      '8.0',
    ]);
    expect(compareVersions('7.94SVN', '7.94')).toBe(0);
    expect(compareVersions('7.94SVN', '7.95')).toBeLessThan(0);
  });
});
