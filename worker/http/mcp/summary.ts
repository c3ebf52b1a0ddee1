import type { Scan } from '../../../shared/scan/index.ts';
import { scriptFindings, type Finding, type Findings } from './findings.ts';
import {
  MAX_PAGE_HOSTS,
  MAX_PAGE_PORTS,
  MAX_SUMMARY_CHARS,
  MAX_TEXT_FINDINGS,
  MAX_TEXT_HOSTS,
  MAX_TEXT_PORTS,
  scanResourceUri,
  upHosts,
  type OpenPort,
} from './scan-view.ts';
import { forMcp } from './wording.ts';

/**
 * The text of a scan result: what a model reads, at most MAX_SUMMARY_CHARS whatever the scan (a /24 with every port
 * open included). Pure. In order: the status line; the hosts up (up to MAX_TEXT_HOSTS named); one line per open port
 * (`- address port/proto service product version`) while the budget lasts; when ports were left out, the most common
 * open services across hosts; the notable script findings (findings.ts says which, and why); then counts of what was
 * left out, and where the rest is: get_scan pages (structuredContent), and the scan's raw output and nmap XML as MCP
 * resources (scan.resources.ts).
 */
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** `text` cut to `max` characters, with an ellipsis when cut. */
function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** Items joined with ", " while they fit `max` characters, then "and N more" (counted, not named). */
function listWithin(items: string[], max: number, limit = items.length): string {
  const named: string[] = [];
  let length = 0;
  for (const item of items.slice(0, limit)) {
    if (named.length > 0 && length + item.length + 2 > max) break;
    named.push(item);
    length += item.length + 2;
  }
  const rest = items.length - named.length;
  return `${named.join(', ')}${rest > 0 ? `, and ${rest} more` : ''}`;
}

const portText = (p: OpenPort) =>
  `${p.port}/${p.protocol} ${[p.service, [p.product, p.version].filter(Boolean).join(' ')].filter(Boolean).join(' ') || 'open'}`;

/** Open services across hosts, most common first: "22/tcp ssh OpenSSH 9.2p1 ×200". */
function commonServices(ports: OpenPort[], max: number): string {
  const counts = new Map<string, number>();
  for (const p of ports) counts.set(portText(p), (counts.get(portText(p)) ?? 0) + 1);
  const ranked = [...counts].sort((a, b) => b[1] - a[1]).map(([what, n]) => (n > 1 ? `${what} ×${n}` : what));
  return `Most common open services: ${listWithin(ranked, max)}.`;
}

function findingLine(f: Finding): string {
  const more = f.where.length > 1 ? ` (and ${f.where.length - 1} more)` : '';
  return clip(`- ${f.scriptId} on ${f.where[0]}${more}: ${f.line}`, 200);
}

/** The summary a model reads, at most MAX_SUMMARY_CHARS long (see the top of this file for what it holds). */
export function summarize(scan: Scan): string {
  const head: string[] = [];
  const tail: string[] = [];
  const took = scan.durationMs !== null ? ` in ${(scan.durationMs / 1000).toFixed(1)} s` : '';
  head.push(`Scan ${scan.id} ${scan.status}${took} (targets: ${listWithin(scan.targets, 160)}).`);
  // What changed since the previous scan of the same targets, worked out when it finished: one line, bounded.
  if (scan.changes) head.push(clip(`${scan.changes.summary} diff_scans has the details.`, 300));
  let body: (budget: number) => string[] = () => [];
  if (scan.report) {
    const report = scan.report;
    const hosts = upHosts(report);
    const ports = hosts.flatMap((h) => h.openPorts);
    const names = hosts.map((h) =>
      h.hostname ? `${clip(h.address, 45)} (${clip(h.hostname, 60)})` : clip(h.address, 45),
    );
    const up = `${report.stats.hostsUp} of ${plural(report.stats.hostsTotal, 'host')} up`;
    // With open ports, the port lines name hosts too: the list of hosts up gets less room than in a host discovery.
    const namesRoom = ports.length > 0 ? 160 : 300;
    head.push(
      `${up}${names.length ? `: ${listWithin(names, namesRoom, MAX_TEXT_HOSTS)}` : ''}; ${plural(ports.length, 'open port')}.`,
    );
    const findings = scriptFindings(report);
    body = (budget) => portsAndFindings(ports, findings, budget);
    if (hosts.length > MAX_PAGE_HOSTS || ports.length > MAX_PAGE_PORTS)
      tail.push(
        `structuredContent lists at most ${MAX_PAGE_HOSTS} hosts and ${MAX_PAGE_PORTS} open ports a page; get_scan with offset (structuredContent.more.nextOffset) pages through the rest.`,
      );
  } else if (scan.progress && !scan.error) {
    head.push(
      `In progress: ${clip(scan.progress.phase ?? 'scan', 64)} ${scan.progress.percent.toFixed(0)}%${scan.progress.etaSec !== undefined ? `, about ${scan.progress.etaSec} s left` : ''}.`,
    );
  }
  if (scan.error) {
    const error = forMcp(scan.error);
    tail.push(clip(`${error.type}: ${error.message}. What to do: ${error.recoverySuggestion}`, 600));
  }
  if (scan.truncated.stdout || scan.truncated.stderr) tail.push('The output was truncated at the policy cap.');
  if (scan.outputBytes > 0)
    tail.push(
      `Raw output (${scan.outputBytes} bytes): resource ${scanResourceUri(scan.id, 'output')}, or get_scan with outputTail.`,
    );
  if (scan.xml)
    tail.push(
      `nmap XML (${scan.xml.bytes} bytes${scan.xml.truncated ? ', cut at the cap' : ''}): resource ${scanResourceUri(scan.id, 'xml')}.`,
    );
  const fixed = [...head, ...tail].reduce((n, line) => n + line.length + 1, 0);
  const text = [...head, ...body(MAX_SUMMARY_CHARS - fixed), ...tail].join('\n');
  // The parts are each bounded so this never cuts; it is the guarantee, not the plan.
  return clip(text, MAX_SUMMARY_CHARS);
}

/**
 * The open-port lines, common services and notable findings that fit `budget` characters: findings get up to 40 %
 * of it (they are the rarest and most telling lines), ports what is left, and a last line counts what was left out.
 */
function portsAndFindings(ports: OpenPort[], findings: Findings, budget: number): string[] {
  const leftOutReserve = 160;
  const findingLines = findings.notable.map(findingLine);
  const shownFindings: string[] = [];
  let findingChars = 0;
  for (const line of findingLines.slice(0, MAX_TEXT_FINDINGS)) {
    if (findingChars + line.length + 1 > Math.max(0, (budget - leftOutReserve) * 0.4)) break;
    shownFindings.push(line);
    findingChars += line.length + 1;
  }
  const header = shownFindings.length > 0 ? 'Notable script findings:' : '';
  let room = budget - leftOutReserve - findingChars - (header ? header.length + 1 : 0);
  const portLines: string[] = [];
  const services = ports.length > 0 ? commonServices(ports, 300) : '';
  for (const p of ports.slice(0, MAX_TEXT_PORTS)) {
    const line = clip(`- ${p.host} ${portText(p)}`, 160);
    // Once a port is left out, the common-services line must still fit.
    const reserve = portLines.length + 1 < ports.length ? services.length + 1 : 0;
    if (line.length + 1 + reserve > room) break;
    portLines.push(line);
    room -= line.length + 1;
  }
  const portsLeft = ports.length - portLines.length;
  const hostsLeft = new Set(ports.slice(portLines.length).map((p) => p.host)).size;
  const findingsLeft = findings.notable.length - shownFindings.length;
  const otherScripts = findings.total - findings.notable.reduce((n, f) => n + f.where.length, 0);
  const leftOut = [
    portsLeft > 0 && `${plural(portsLeft, 'open port')} on ${plural(hostsLeft, 'host')}`,
    findingsLeft > 0 && `${findingsLeft} more notable ${findingsLeft === 1 ? 'finding' : 'findings'}`,
    otherScripts > 0 && `${otherScripts} other script ${otherScripts === 1 ? 'result' : 'results'}`,
  ].filter(Boolean);
  return [
    ...portLines,
    ...(portsLeft > 0 ? [services] : []),
    ...(header ? [header, ...shownFindings] : []),
    ...(leftOut.length > 0 ? [`Not listed here: ${leftOut.join('; ')} (all in the scan's report and nmap XML).`] : []),
  ];
}
