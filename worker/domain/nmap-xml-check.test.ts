import { describe, expect, it } from 'vitest';
import type { Report } from '../../shared/nmap-xml/index.ts';
import { judgeXml } from './nmap-xml-check.ts';

/** The prolog and root nmap 7.93 writes (from `nmap -sT -p 22 -oX`), cut after the root tag. */
const HEAD = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE nmaprun>
<?xml-stylesheet href="file:///usr/bin/../share/nmap/nmap.xsl" type="text/xsl"?>
<!-- Nmap 7.93 scan initiated Mon Nov 30 07:40:56 2026 as: nmap -sT -p 22 -n -Pn -oX /tmp/x.xml 127.0.0.1 -->
<nmaprun scanner="nmap" args="nmap -sT -p 22 -n -Pn -oX /tmp/x.xml 127.0.0.1" start="1796024456" startstr="Mon Nov 30 07:40:56 2026" version="7.93" xmloutputversion="1.05">
<scaninfo type="connect" protocol="tcp" numservices="1" services="22"/>
`;

const report = {
  scanner: { version: '7.93', args: 'nmap -sT', startedAt: new Date(1796024456 * 1000).toISOString(), endedAt: null },
} as Report;

const kept: Parameters<typeof judgeXml>[0] = {
  declared: { bytes: 100, truncated: false },
  storedBytes: 100,
  cutAtEdge: false,
  head: HEAD,
  report,
};

describe("the edge's judgement of a runner's nmap XML", () => {
  it("keeps nmap's document when its size, prolog, start and version agree with the result", () => {
    expect(judgeXml(kept)).toEqual({ bytes: 100, truncated: false });
    expect(judgeXml({ ...kept, report: null })).toEqual({ bytes: 100, truncated: false });
  });

  it('flags a document cut by the runner or at the edge, whatever the runner declared of its size', () => {
    expect(judgeXml({ ...kept, declared: { bytes: 100, truncated: true } })).toEqual({ bytes: 100, truncated: true });
    expect(judgeXml({ ...kept, storedBytes: 60, cutAtEdge: true })).toEqual({ bytes: 60, truncated: true });
  });

  it('knows a runner that sends none (absent: older runners) from nmap writing none (null)', () => {
    expect(judgeXml({ ...kept, declared: undefined, storedBytes: 0, head: '' })).toBeUndefined();
    expect(judgeXml({ ...kept, declared: null, storedBytes: 0, head: '' })).toBeNull();
    expect(judgeXml({ ...kept, declared: { bytes: 0, truncated: false }, storedBytes: 0, head: '' })).toBeNull();
  });

  it('refuses XML that does not match what the runner declared or the report it sent', () => {
    const refusals: Array<[Partial<typeof kept> & Record<string, unknown>, RegExp]> = [
      [{ declared: undefined }, /did not declare/],
      [{ declared: null }, /declared that nmap wrote none/],
      [{ storedBytes: 99 }, /declared 100 bytes of XML but sent 99/],
      [{ head: '<html><script>alert(1)</script></html>' }, /does not start as an nmap XML document/],
      [{ head: `<!-- x -->\n<html>${HEAD}` }, /does not start as an nmap XML document/],
      [{ head: HEAD.replace('start="1796024456"', 'start="1700000000"') }, /start time \(1700000000\)/],
      [{ head: HEAD.replace('version="7.93"', 'version="7.80"') }, /nmap version \(7\.80\)/],
    ];
    for (const [change, why] of refusals) {
      const verdict = judgeXml({ ...kept, ...change } as typeof kept);
      expect(verdict, String(why)).toEqual({ refused: expect.stringMatching(why) });
    }
  });
});
