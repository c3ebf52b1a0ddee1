import { describe, expect, it } from 'vitest';
import { compareVersions, isOutdated, parseSha256Line, RUNNER_VERSION } from './runner-version.ts';

describe('runner versions', () => {
  it('orders dotted versions by number, not by text', () => {
    expect(compareVersions('0.9.2', '0.10.0')).toBe(-1);
    expect(compareVersions('1.0', '1.0.0')).toBe(0);
    expect(compareVersions('2.0.0', '1.99.99')).toBe(1);
  });

  it('calls only a known, older version outdated', () => {
    expect(isOutdated('0.0.1', '0.1.0')).toBe(true);
    expect(isOutdated(RUNNER_VERSION)).toBe(false);
    expect(isOutdated('9.0.0')).toBe(false);
    expect(isOutdated(null)).toBe(false);
  });

  it('reads a sha256sum line or a bare hash, and nothing else', () => {
    const hex = 'ab'.repeat(32);
    expect(parseSha256Line(`${hex}  scangate-runner\n`)).toBe(hex);
    expect(parseSha256Line(hex.toUpperCase())).toBe(hex);
    expect(parseSha256Line('<html>not found</html>')).toBeNull();
    expect(parseSha256Line(`${hex}00  x`)).toBeNull();
  });
});
