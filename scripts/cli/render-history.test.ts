import { describe, expect, it } from 'vitest';
import { diffScans } from '../../worker/domain/diff/index.ts';
import { DIFF_XML, reportOf } from '../../worker/domain/diff/fixtures.ts';
import { formatDiff, formatInventory } from './render-history.ts';

const side = (name: keyof typeof DIFF_XML, xml = DIFF_XML[name]) => ({
  scanId: `scan_${name}`,
  targets: ['127.0.0.1'],
  report: reportOf(xml),
});

describe('scangate diff and inventory output', () => {
  it('prints each change on a row, the summary first, and what was not checked apart', () => {
    const diff = diffScans(side('up'), side('moved'));
    const text = formatDiff({
      head: { id: 'scan_moved', finishedAt: '2026-11-30T08:00:00.000Z' },
      base: { id: 'scan_up', finishedAt: '2026-11-30T07:00:00.000Z' },
      diff,
      summary: 'Since scan_up: 1 port opened, 1 port closed.',
    });
    expect(text.split('\n')[1]).toBe('Since scan_up: 1 port opened, 1 port closed.');
    expect(text).toMatch(/opened\s+127\.0\.0\.1 2225\/tcp\s+closed → open/);
    expect(text).toMatch(/closed\s+127\.0\.0\.1 2222\/tcp\s+open → closed/);
    const unchecked = formatDiff({
      head: { id: 'scan_otherPorts', finishedAt: null },
      base: { id: 'scan_up', finishedAt: null },
      diff: diffScans(side('up'), side('otherPorts')),
      summary: 'Since scan_up: no changes; 2 not checked this time.',
    });
    expect(unchecked).toContain(
      'not checked (the newer scan did not probe them): 127.0.0.1 2222/tcp, 127.0.0.1 4430/tcp',
    );
    expect(unchecked).not.toMatch(/^closed/m);
  });

  it('says when there was nothing to compare with', () => {
    expect(
      formatDiff({
        head: { id: 'scan_a', finishedAt: null },
        base: null,
        diff: null,
        summary: 'No earlier finished scan of the same targets to compare with.',
      }),
    ).toBe('scan_a: No earlier finished scan of the same targets to compare with.');
  });

  it('keeps a hostile banner from steering the terminal', () => {
    const hostile = DIFF_XML.newBanner.replace('version="8.9p1 Ubuntu 3"', 'version="8.9&#x1b;]0;pwned&#x7;"');
    const text = formatDiff({
      head: { id: 'scan_b', finishedAt: null },
      base: { id: 'scan_a', finishedAt: null },
      diff: diffScans(side('up'), side('newBanner', hostile)),
      summary: 'x',
    });
    expect(text).toContain('OpenSSH 7.4 → OpenSSH 8.9');
    expect(text).not.toMatch(/[\u001b\u0007]/);
    expect(
      formatInventory(
        [
          {
            address: '127.0.0.1',
            protocol: 'tcp',
            port: 22,
            state: 'open',
            service: 'ssh',
            product: 'Evil\u001b[2J',
            version: null,
            cpe: [],
            scripts: [],
            firstSeen: '2026-11-30T07:00:00.000Z',
            lastSeen: '2026-11-30T08:00:00.000Z',
            lastScan: 'scan_a',
            lastProbedAt: '2026-11-30T08:00:00.000Z',
            lastProbedScan: 'scan_a',
          },
        ],
        'abc',
      ),
    ).not.toContain('\u001b');
  });
});
