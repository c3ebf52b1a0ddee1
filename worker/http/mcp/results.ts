import { z } from 'zod';
import type { JsonObject, JsonValue, ScanError } from '../../../shared/errors/index.ts';
import type { Report } from '../../../shared/nmap-xml/index.ts';
import { SCAN_STATUSES, type Scan } from '../../../shared/scan/index.ts';
import { forMcp } from './wording.ts';

/**
 * Scan → MCP tool result. Pure.
 *
 * The text is what a model reads: status, the hosts up by address and the open ports with service and version,
 * each list capped with "and N more". `structuredContent` is bounded the same way, one page at a time: at most
 * MAX_PAGE_HOSTS hosts up and MAX_PAGE_PORTS open ports, starting at the `offset`-th host up; `more` (set only
 * when something was left out) counts the hosts and open ports not on the page and gives `nextOffset`, the
 * get_scan offset that continues it. Script output, OS guesses and closed ports stay in the full report on the
 * scan (REST); raw output is read with get_scan's outputTail.
 *
 * Schemas MUST stay portable and small (tools/list is measured in a test): optional fields rather than
 * nullable ones (no `type: [x, "null"]`), no untyped values, and one definition shared by every scan tool.
 */
export const MAX_PAGE_HOSTS = 50;
export const MAX_PAGE_PORTS = 100;
/** Hosts and ports named in the text; the rest are counted. */
export const MAX_TEXT_HOSTS = 20;
export const MAX_TEXT_PORTS = 40;

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

/** A tool's result. JSON-typed throughout: it is stored with an MCP task and read back over RPC. */
export interface ToolResult {
  [key: string]: JsonValue | undefined;
  content: Array<{ type: 'text'; text: string }>;
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

export function summarize(scan: Scan): string {
  const lines: string[] = [];
  const took = scan.durationMs !== null ? ` in ${(scan.durationMs / 1000).toFixed(1)} s` : '';
  lines.push(`Scan ${scan.id} ${scan.status}${took} (targets: ${scan.targets.join(', ')}).`);
  if (scan.report) {
    const hosts = upHosts(scan.report);
    const ports = hosts.flatMap((h) => h.openPorts);
    const named = hosts.slice(0, MAX_TEXT_HOSTS).map((h) => (h.hostname ? `${h.address} (${h.hostname})` : h.address));
    const rest = hosts.length - named.length;
    const up = `${scan.report.stats.hostsUp} of ${plural(scan.report.stats.hostsTotal, 'host')} up`;
    lines.push(
      `${up}${named.length ? `: ${named.join(', ')}${rest > 0 ? `, and ${rest} more` : ''}` : ''}; ${plural(ports.length, 'open port')}.`,
    );
    for (const p of ports.slice(0, MAX_TEXT_PORTS)) {
      const what = [p.service, [p.product, p.version].filter(Boolean).join(' ')].filter(Boolean).join(' ');
      lines.push(`- ${p.host} ${p.port}/${p.protocol} ${what || 'open'}`);
    }
    if (ports.length > MAX_TEXT_PORTS) lines.push(`- … and ${ports.length - MAX_TEXT_PORTS} more open ports`);
    if (hosts.length > MAX_PAGE_HOSTS || ports.length > MAX_PAGE_PORTS) {
      lines.push(
        `structuredContent lists at most ${MAX_PAGE_HOSTS} hosts and ${MAX_PAGE_PORTS} open ports; get_scan with offset (structuredContent.more.nextOffset) pages through the rest.`,
      );
    }
  } else if (scan.progress && !scan.error) {
    lines.push(
      `In progress: ${scan.progress.phase ?? 'scan'} ${scan.progress.percent.toFixed(0)}%${scan.progress.etaSec !== undefined ? `, about ${scan.progress.etaSec} s left` : ''}.`,
    );
  }
  if (scan.error) {
    const error = forMcp(scan.error);
    lines.push(`${error.type}: ${error.message}. What to do: ${error.recoverySuggestion}`);
  }
  if (scan.truncated.stdout || scan.truncated.stderr) lines.push('The output was truncated at the policy cap.');
  if (scan.outputBytes > 0)
    lines.push(`Raw output (${scan.outputBytes} bytes): get_scan with scanId "${scan.id}" and outputTail.`);
  return lines.join('\n');
}

/** A scan as a tool result: an error result when the scan failed, was rejected or was cancelled (still a scan, so it keeps structuredContent, which matches the schema). */
export function scanToolResult(scan: Scan, options: { extraText?: string; offset?: number } = {}): ToolResult {
  const failed = scan.status === 'failed' || scan.status === 'rejected' || scan.status === 'cancelled';
  const text = summarize(scan);
  return {
    content: [{ type: 'text', text: options.extraText ? `${text}\n${options.extraText}` : text }],
    structuredContent: structuredScan(scan, options.offset),
    ...(failed && { isError: true }),
  };
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
