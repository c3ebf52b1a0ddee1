import { z } from 'zod';
import type { JsonObject, JsonValue, ScanError } from '../../../shared/errors/index.ts';
import type { Report } from '../../../shared/nmap-xml/index.ts';
import { SCAN_STATUSES, type Scan } from '../../../shared/scan/index.ts';
import { scriptFindings, type Finding, type Findings } from './findings.ts';
import { forMcp } from './wording.ts';

/**
 * Scan → MCP tool result. Pure.
 *
 * The text is what a model reads, and it is bounded: at most MAX_SUMMARY_CHARS whatever the scan (a /24 with
 * every port open included). In order: the status line; the hosts up (up to MAX_TEXT_HOSTS named); one line per
 * open port (`- address port/proto service product version`) while the budget lasts; when ports were left out, the
 * most common open services across hosts; the notable script findings (findings.ts says which, and why); then
 * counts of what was left out, and where the rest is: get_scan pages (structuredContent), and the scan's raw output
 * and nmap XML as MCP resources (scan.resources.ts), linked from the result with `resource_link` items.
 *
 * `structuredContent` is bounded the same way, one page at a time: at most MAX_PAGE_HOSTS hosts up and
 * MAX_PAGE_PORTS open ports, starting at the `offset`-th host up. `more` is the truncation flag and the totals in
 * one: set exactly when something was left out, it counts the hosts and open ports not on the page and gives
 * `nextOffset`, the get_scan offset that continues it (so hostsUp = hosts.length + more.hosts, and every open port
 * = openPorts.length + more.openPorts). No separate `truncated`/`openPortsTotal` fields: tools/list carries this
 * schema twice and was 11 characters under its 8,000 limit; they would say again what `more` says.
 *
 * Schemas MUST stay portable and small (tools/list is measured in a test): optional fields rather than
 * nullable ones (no `type: [x, "null"]`), no untyped values, and one definition shared by every scan tool.
 */
export const MAX_PAGE_HOSTS = 50;
export const MAX_PAGE_PORTS = 100;
/** Hosts and ports named in the text at most; the rest are counted. */
export const MAX_TEXT_HOSTS = 20;
export const MAX_TEXT_PORTS = 40;
/** Notable script findings listed in the text at most. */
export const MAX_TEXT_FINDINGS = 5;
/** The longest summary text (extra text a caller asks for, such as an output tail, comes on top). */
export const MAX_SUMMARY_CHARS = 2000;

/** The MCP resources of a scan (scan.resources.ts serves them). */
export function scanResourceUri(scanId: string, kind: 'output' | 'xml'): string {
  return `scangate://scans/${scanId}/${kind}`;
}

const OpenPortShape = z.object({
  host: z.string(),
  port: z.number(),
  protocol: z.string(),
  service: z.string().optional(),
  product: z.string().optional(),
  version: z.string().optional(),
});

export const ErrorShape = z.object({ type: z.string(), message: z.string(), recoverySuggestion: z.string() });

/**
 * The one output schema of nmap_scan and get_scan (cancel_scan answers with scanId and status only). Kept lean:
 * tools/list carries it twice and every character is read into an agent's context, so it holds what a program
 * acts on (status, progress, the argv that ran, hosts, open ports, paging, the error); phase and ETA, duration,
 * exit code, warnings and output size are in the text.
 */
export const ScanResultShape = {
  scanId: z.string(),
  status: z.enum(SCAN_STATUSES),
  argv: z.array(z.string()),
  percent: z.number().optional(),
  hostsUp: z.number().optional(),
  hostsTotal: z.number().optional(),
  hosts: z.array(z.object({ address: z.string(), hostname: z.string().optional() })),
  openPorts: z.array(OpenPortShape),
  more: z.object({ hosts: z.number(), openPorts: z.number(), nextOffset: z.number().optional() }).optional(),
  error: ErrorShape.optional(),
};

export type ScanResultStructured = z.infer<z.ZodObject<typeof ScanResultShape>>;
type OpenPort = z.infer<typeof OpenPortShape>;

/** A link to one of a scan's resources in a tool result (MCP `resource_link` content). */
export interface ResourceLink {
  [key: string]: JsonValue | undefined;
  type: 'resource_link';
  uri: string;
  name: string;
  description: string;
  mimeType: string;
  size: number;
}

/** A tool's result. JSON-typed throughout: it is stored with an MCP task and read back over RPC. */
export interface ToolResult {
  [key: string]: JsonValue | undefined;
  /** The text first (callers read `content[0].text`), then resource links. */
  content: [{ type: 'text'; text: string }, ...ResourceLink[]];
  structuredContent?: JsonObject;
  isError?: boolean;
}

interface UpHost {
  address: string;
  hostname: string | undefined;
  openPorts: OpenPort[];
}

function upHosts(report: Report): UpHost[] {
  return report.hosts
    .filter((h) => h.status === 'up')
    .map((h) => {
      const address = h.addresses.find((a) => a.type !== 'mac')?.addr ?? h.hostnames[0]?.name ?? '?';
      const openPorts = h.ports
        .filter((p) => p.state === 'open')
        .map((p) => ({
          host: address,
          port: p.port,
          protocol: p.protocol,
          ...(p.service?.name && { service: p.service.name }),
          ...(p.service?.product && { product: p.service.product }),
          ...(p.service?.version && { version: p.service.version }),
        }));
      return { address, hostname: h.hostnames[0]?.name, openPorts };
    });
}

/** One page of a scan: the hosts up from `offset` (at most MAX_PAGE_HOSTS) and their open ports (at most MAX_PAGE_PORTS). */
export function structuredScan(scan: Scan, offset = 0): ScanResultStructured {
  const hosts = scan.report ? upHosts(scan.report) : [];
  const totalPorts = hosts.reduce((n, h) => n + h.openPorts.length, 0);
  const page = hosts.slice(offset, offset + MAX_PAGE_HOSTS);
  const ports = page.flatMap((h) => h.openPorts).slice(0, MAX_PAGE_PORTS);
  // A page ends at the last host whose ports it lists in full (always at least one host, so paging advances).
  let listedHosts = 0;
  for (
    let seen = 0;
    listedHosts < page.length && (listedHosts === 0 || seen + page[listedHosts]!.openPorts.length <= MAX_PAGE_PORTS);
    listedHosts++
  ) {
    seen += page[listedHosts]!.openPorts.length;
  }
  const listed = page.slice(0, listedHosts);
  const listedPorts = ports.filter((p) => listed.some((h) => h.address === p.host));
  const left = { hosts: hosts.length - listed.length, openPorts: totalPorts - listedPorts.length };
  const nextOffset = offset + listed.length;
  return {
    scanId: scan.id,
    status: scan.status,
    argv: scan.argv,
    ...(scan.progress && { percent: scan.progress.percent }),
    ...(scan.report && { hostsUp: scan.report.stats.hostsUp, hostsTotal: scan.report.stats.hostsTotal }),
    hosts: listed.map((h) => ({ address: h.address, ...(h.hostname && { hostname: h.hostname }) })),
    openPorts: listedPorts,
    ...((left.hosts > 0 || left.openPorts > 0) && {
      more: { ...left, ...(nextOffset < hosts.length && { nextOffset }) },
    }),
    ...(scan.error && { error: errorFields(forMcp(scan.error)) }),
  };
}

/** The fields ErrorShape declares (details and retry hints stay in the text: scan outcomes have none to act on). */
function errorFields(error: ScanError): z.infer<typeof ErrorShape> {
  const { type, message, recoverySuggestion } = error;
  return { type, message, recoverySuggestion };
}

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

/**
 * A scan as a tool result: the summary, links to its raw output and nmap XML when it has them, and one page of
 * structuredContent. An error result when the scan failed, was rejected or was cancelled (still a scan, so it keeps
 * structuredContent, which matches the schema).
 */
export function scanToolResult(scan: Scan, options: { extraText?: string; offset?: number } = {}): ToolResult {
  const failed = scan.status === 'failed' || scan.status === 'rejected' || scan.status === 'cancelled';
  const text = summarize(scan);
  return {
    content: [
      { type: 'text', text: options.extraText ? `${text}\n${options.extraText}` : text },
      ...resourceLinks(scan),
    ],
    structuredContent: structuredScan(scan, options.offset),
    ...(failed && { isError: true }),
  };
}

/** Links to the scan's resources that have something in them (an ended scan's, or output so far). */
export function resourceLinks(scan: Scan): ResourceLink[] {
  const links: ResourceLink[] = [];
  if (scan.outputBytes > 0)
    links.push({
      type: 'resource_link',
      uri: scanResourceUri(scan.id, 'output'),
      name: `${scan.id} output`,
      description: "nmap's normal output",
      mimeType: 'text/plain',
      size: scan.outputBytes,
    });
  if (scan.xml)
    links.push({
      type: 'resource_link',
      uri: scanResourceUri(scan.id, 'xml'),
      name: `${scan.id} XML`,
      description: scan.xml.truncated ? "nmap's XML, cut at the size cap" : "nmap's XML (-oX), as nmap wrote it",
      mimeType: 'application/xml',
      size: scan.xml.bytes,
    });
  return links;
}

/**
 * A taxonomy error as a tool result the model can act on: type, message and fix (worded for MCP) in the text.
 * No `structuredContent`: it would have to match the tool's outputSchema, which describes results, and the
 * official clients validate it even on error results (the v1 SDK client throws -32602 otherwise). Programs
 * read the error as data from `_meta["scangate/error"]`, which no schema constrains.
 */
export function errorToolResult(error: ScanError): ToolResult {
  const worded = forMcp(error);
  const retry = worded.retryAfterSec !== undefined ? `\nRetry after ${worded.retryAfterSec} s.` : '';
  return {
    content: [
      { type: 'text', text: `${worded.type}: ${worded.message}\nWhat to do: ${worded.recoverySuggestion}${retry}` },
    ],
    _meta: { 'scangate/error': worded },
    isError: true,
  };
}
