import { describe, expect, it } from 'vitest';
import { MAX_XML_BYTES, utf8ByteLength } from '../../shared/protocol/index.ts';
import { admitOutput, frameBudget } from './output-caps.ts';

const caps = { stdoutMaxBytes: 10, stderrMaxBytes: 4 };
const fresh = { stdoutBytes: 0, stderrBytes: 0, xmlBytes: 0, frames: 0 };

describe('edge output caps', () => {
  it('stores output within the cap whole', () => {
    expect(admitOutput(fresh, 'stdout', 'abc', caps, 10)).toEqual({
      kind: 'store',
      data: 'abc',
      bytes: 3,
      truncated: false,
    });
  });

  it('counts UTF-8 bytes, not characters, and never splits a character', () => {
    // "é" is 2 bytes, "€" 3, "😀" 4 (a surrogate pair): 10 characters of "€" are 30 bytes.
    const got = admitOutput(fresh, 'stdout', '€'.repeat(10), caps, 10);
    expect(got).toMatchObject({ kind: 'store', truncated: true, data: '€€€' });
    const emoji = admitOutput({ ...fresh, stdoutBytes: 3 }, 'stdout', '😀😀', caps, 10);
    expect(emoji).toMatchObject({ data: '😀', bytes: 4, truncated: true });
    expect(utf8ByteLength((emoji as { data: string }).data)).toBe(4);
  });

  it('keeps each stream to its own cap; a full stream stores empty frames (their seq keeps acks contiguous)', () => {
    expect(admitOutput({ ...fresh, stderrBytes: 4 }, 'stderr', 'more', caps, 10)).toEqual({
      kind: 'store',
      data: '',
      bytes: 0,
      truncated: true,
    });
    expect(admitOutput({ ...fresh, stderrBytes: 4 }, 'stdout', 'more', caps, 10)).toMatchObject({
      data: 'more',
      truncated: false,
    });
  });

  it("caps nmap's XML on its own, at MAX_XML_BYTES unless told otherwise, whatever the policy's output caps", () => {
    expect(admitOutput({ ...fresh, stdoutBytes: 10 }, 'xml', '<nmaprun>', caps, 10)).toMatchObject({
      data: '<nmaprun>',
      truncated: false,
    });
    expect(admitOutput(fresh, 'xml', '<nmaprun>', { ...caps, xmlMaxBytes: 4 }, 10)).toMatchObject({
      data: '<nma',
      bytes: 4,
      truncated: true,
    });
    expect(admitOutput({ ...fresh, xmlBytes: MAX_XML_BYTES - 1 }, 'xml', 'ab', caps, 10)).toMatchObject({
      data: 'a',
      truncated: true,
    });
    // Its frames fit the budget too: an honest runner sends the capped XML in full chunks.
    expect(frameBudget(1, caps) - frameBudget(1, { ...caps, xmlMaxBytes: 0 })).toBe(MAX_XML_BYTES / 65536);
  });

  it('refuses frames past the budget an honest runner could reach', () => {
    expect(admitOutput({ ...fresh, frames: 10 }, 'stdout', 'a', caps, 10)).toEqual({
      kind: 'over_frame_budget',
      maxFrames: 10,
    });
    // An honest runner: one frame per stream per 250 ms for the whole timeout, plus full chunks.
    expect(frameBudget(3600, { stdoutMaxBytes: 16 << 20, stderrMaxBytes: 4 << 20 })).toBeGreaterThan(
      2 * 4 * 3600 + (20 << 20) / 65536,
    );
  });
});
