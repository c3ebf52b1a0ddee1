import { z } from 'zod';
import type { JsonObject, JsonValue, ScanError } from '../../../shared/errors/index.ts';
import { SCAN_STATUSES, type Scan } from '../../../shared/scan/index.ts';
import { MAX_PAGE_HOSTS, MAX_PAGE_PORTS, scanResourceUri, upHosts } from './scan-view.ts';
import { summarize } from './summary.ts';
import { forMcp } from './wording.ts';

/**
 * Scan → MCP tool result. Pure.
 *
 * The text is the bounded summary of summary.ts; then `resource_link` items to the scan's raw output and nmap XML
 * (the MCP resources of scan.resources.ts), when it has them.
 *
 * `structuredContent` is bounded too, one page at a time: at most MAX_PAGE_HOSTS hosts up and
 * MAX_PAGE_PORTS open ports, starting at the `offset`-th host up. `more` is the truncation flag and the totals in
 * one: set exactly when something was left out, it counts the hosts and open ports not on the page and gives
 * `nextOffset`, the get_scan offset that continues it (so hostsUp = hosts.length + more.hosts, and every open port
 * = openPorts.length + more.openPorts). No separate `truncated`/`openPortsTotal` fields: tools/list carries this
 * schema twice and was 11 characters under its 8,000 limit; they would say again what `more` says.
 *
 * Schemas MUST stay portable and small (tools/list is measured in a test): optional fields rather than
 * nullable ones (no `type: [x, "null"]`), no untyped values, and one definition shared by every scan tool.
 */
export {
  MAX_PAGE_HOSTS,
  MAX_PAGE_PORTS,
  MAX_SUMMARY_CHARS,
  MAX_TEXT_FINDINGS,
  MAX_TEXT_HOSTS,
  MAX_TEXT_PORTS,
  scanResourceUri,
} from './scan-view.ts';
export { summarize } from './summary.ts';

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
