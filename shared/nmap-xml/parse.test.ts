import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { openPorts, parseNmapXml, ReportSchema } from './index.ts';

const fixture = (name: string) =>
  readFileSync(new URL(`../../test/fixtures/nmap/${name}`, import.meta.url).pathname, 'utf8');

describe('parseNmapXml on real nmap output', () => {
  const parsed = parseNmapXml(fixture('http-sv-scripts.xml'));
  if (!parsed.ok) throw new Error(parsed.problem);
  const report = parsed.report;

  it('reads the run: version, arguments, times and stats', () => {
    expect(report.scanner.version).toBe('7.93');
    expect(report.scanner.args).toContain('--script "http-title,(default) and not (external or broadcast)"');
    expect(report.scanner.startedAt).toBe('2026-11-25T07:14:11.000Z');
    expect(report.scanner.endedAt).toBe('2026-11-25T07:14:18.000Z');
    expect(report.stats).toMatchObject({ hostsUp: 1, hostsDown: 0, hostsTotal: 1, elapsedSec: 7.49, exit: 'success' });
  });

  it('reads the host, its ports, service, version, cpe and script output', () => {
    const [host] = report.hosts;
    expect(host?.addresses).toEqual([{ addr: '127.0.0.1', type: 'ipv4', vendor: null }]);
    expect(host?.hostnames).toEqual([{ name: 'localhost', type: 'PTR' }]);
    expect(host?.ports.map((p) => `${p.port}/${p.protocol} ${p.state}`)).toEqual([
      '22/tcp closed',
      '18080/tcp open',
      '18081/tcp closed',
    ]);
    const http = host?.ports[1];
    expect(http?.service).toMatchObject({
      name: 'http',
      product: 'SimpleHTTPServer',
      version: '0.6',
      extraInfo: 'Python 3.11.7',
      confidence: 10,
    });
    expect(http?.cpe).toEqual(['cpe:/a:python:simplehttpserver:0.6']);
    expect(http?.scripts).toEqual([
      { id: 'http-server-header', output: 'SimpleHTTP/0.6 Python/3.11.7' },
      { id: 'http-title', output: 'Directory listing for /' },
    ]);
    expect(openPorts(report).map((o) => `${o.host}:${o.port.port}`)).toEqual(['127.0.0.1:18080']);
  });

  it('fits the report schema', () => {
    expect(ReportSchema.safeParse(report).success).toBe(true);
  });
});

describe('parseNmapXml on hostile or broken input', () => {
  it('keeps markup in banners and script output as inert text, and drops impossible ports', () => {
    const parsed = parseNmapXml(fixture('hostile.xml'));
    if (!parsed.ok) throw new Error(parsed.problem);
    const [down, up] = parsed.report.hosts;
    expect(down?.status).toBe('down');
    expect(up?.addresses[1]).toEqual({ addr: '02:00:00:00:00:01', type: 'mac', vendor: '<b>Vendor</b>' });
    expect(up?.ports).toHaveLength(1);
    expect(up?.ports[0]?.service?.product).toBe('<script>alert(1)</script>');
    expect(up?.ports[0]?.service?.version).toBe('1'); // the control character is gone
    expect(up?.ports[0]?.scripts[0]?.output).toBe('<img src=x onerror=alert(1)> &amp; \nline two');
    expect(up?.extraPorts).toEqual([{ state: 'closed', count: 998 }]);
    expect(up?.hostScripts).toEqual([{ id: 'smb-os-discovery', output: 'host text' }]);
    expect(up?.os).toEqual([{ name: 'Linux 5.X', accuracy: 100 }]);
    // An unfinished run (no <runstats>): counts come from the hosts, no end time, no exit status.
    expect(parsed.report.stats).toMatchObject({
      hostsUp: 1,
      hostsDown: 1,
      hostsTotal: 2,
      exit: null,
      elapsedSec: null,
    });
    expect(parsed.report.scanner.endedAt).toBeNull();
    expect(ReportSchema.safeParse(parsed.report).success).toBe(true);
  });

  it('cuts oversized untrusted text to the report bounds', () => {
    const huge = `${'A'.repeat(100_000)}&#x1b;[2J`;
    const xml = `<nmaprun version="7.93"><host><status state="up"/><address addr="127.0.0.1" addrtype="ipv4"/><ports><port protocol="tcp" portid="80"><state state="open"/><script id="x" output="${huge}"/></port></ports></host></nmaprun>`;
    const parsed = parseNmapXml(xml);
    if (!parsed.ok) throw new Error(parsed.problem);
    const output = parsed.report.hosts[0]?.ports[0]?.scripts[0]?.output ?? '';
    expect(output.length).toBe(16_384);
    expect(output.endsWith('…')).toBe(true);
    expect(ReportSchema.safeParse(parsed.report).success).toBe(true);
  });

  it.each([
    ['empty', ''],
    ['not XML', 'Nmap done: 0 IP addresses'],
    ['another document', '<html><body>hi</body></html>'],
  ])('refuses %s with a reason', (_name, xml) => {
    const parsed = parseNmapXml(xml);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.problem).toMatch(/nmaprun|parsed/);
  });
});
