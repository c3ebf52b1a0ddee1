import { z } from 'zod';
import type { ScanError } from '../../shared/errors/index.ts';
import { openPorts, ReportSchema } from '../../shared/nmap-xml/index.ts';
import type { Scan } from '../stores/jobs.store.ts';

/**
 * Scan → MCP tool result. The text is a short summary for the model (hosts up, open ports with service and
 * version); the structured part carries the report. Raw output never goes in here whole: agents fetch a tail of
 * it with get_scan when they need it. Pure.
 */
const ErrorShape = z.object({ type: z.string(), message: z.string(), recoverySuggestion: z.string(), retryAfterSec: z.number().optional() });

export const ScanResultShape = {
  scanId: z.string(),
  status: z.enum(['queued', 'dispatched', 'running', 'succeeded', 'failed', 'cancelled', 'rejected']),
  targets: z.array(z.string()),
  argv: z.array(z.string()),
  warnings: z.array(z.string()),
  progress: z.object({ percent: z.number(), phase: z.string().optional(), etaSec: z.number().optional() }).nullable(),
  durationMs: z.number().nullable(),
  exitCode: z.number().nullable(),
  hostsUp: z.number().nullable(),
  openPorts: z.array(z.object({ host: z.string(), port: z.number(), protocol: z.string(), service: z.string().nullable(), product: z.string().nullable(), version: z.string().nullable() })),
  truncated: z.object({ stdout: z.boolean(), stderr: z.boolean() }),
  outputBytes: z.number(),
  error: ErrorShape.nullable(),
  report: ReportSchema.nullable(),
};

export type ScanResultStructured = z.infer<z.ZodObject<typeof ScanResultShape>>;

export interface ToolResult {
  [key: string]: unknown;
  content: Array<{ type: 'text'; text: string }>;
  structuredContent?: Record<string, unknown>;
  isError?: boolean;
}

const MAX_LISTED_PORTS = 40;

export function structuredScan(scan: Scan): ScanResultStructured {
  const ports = scan.report ? openPorts(scan.report) : [];
  return {
    scanId: scan.id,
    status: scan.status,
    targets: scan.targets,
    argv: scan.argv,
    warnings: scan.warnings,
    progress: scan.progress,
    durationMs: scan.durationMs,
    exitCode: scan.exitCode,
    hostsUp: scan.report ? scan.report.stats.hostsUp : null,
    openPorts: ports.map(({ host, port }) => ({
      host,
      port: port.port,
      protocol: port.protocol,
      service: port.service?.name ?? null,
      product: port.service?.product ?? null,
      version: port.service?.version ?? null,
    })),
    truncated: scan.truncated,
    outputBytes: scan.outputBytes,
    error: scan.error,
    report: scan.report,
  };
}

export function summarize(scan: Scan): string {
  const s = structuredScan(scan);
  const lines: string[] = [];
  const took = scan.durationMs !== null ? ` in ${(scan.durationMs / 1000).toFixed(1)} s` : '';
  lines.push(`Scan ${scan.id} ${scan.status}${took} (targets: ${scan.targets.join(', ')}).`);
  if (scan.report) {
    lines.push(`${scan.report.stats.hostsUp} of ${scan.report.stats.hostsTotal} hosts up; ${s.openPorts.length} open port${s.openPorts.length === 1 ? '' : 's'}.`);
    for (const p of s.openPorts.slice(0, MAX_LISTED_PORTS)) {
      const what = [p.service, [p.product, p.version].filter(Boolean).join(' ')].filter(Boolean).join(' ');
      lines.push(`- ${p.host} ${p.port}/${p.protocol} ${what || 'open'}`);
    }
    if (s.openPorts.length > MAX_LISTED_PORTS) lines.push(`- … and ${s.openPorts.length - MAX_LISTED_PORTS} more (see structuredContent.openPorts)`);
  } else if (scan.progress && !scan.error) {
    lines.push(`In progress: ${scan.progress.phase ?? 'scan'} ${scan.progress.percent.toFixed(0)}%${scan.progress.etaSec !== undefined ? `, about ${scan.progress.etaSec} s left` : ''}.`);
  }
  if (scan.error) lines.push(`${scan.error.type}: ${scan.error.message}. What to do: ${scan.error.recoverySuggestion}`);
  if (scan.truncated.stdout || scan.truncated.stderr) lines.push('The output was truncated at the policy cap.');
  if (scan.outputBytes > 0) lines.push(`Raw output (${scan.outputBytes} bytes): get_scan with scanId "${scan.id}" and outputTail.`);
  return lines.join('\n');
}

/** A scan as a tool result: an error result when the scan failed, was rejected or was cancelled. */
export function scanToolResult(scan: Scan, extraText?: string): ToolResult {
  const failed = scan.status === 'failed' || scan.status === 'rejected' || scan.status === 'cancelled';
  return {
    content: [{ type: 'text', text: extraText ? `${summarize(scan)}\n${extraText}` : summarize(scan) }],
    structuredContent: structuredScan(scan) as unknown as Record<string, unknown>,
    ...(failed && { isError: true }),
  };
}

/** A taxonomy error as a tool result the model can act on. */
export function errorToolResult(error: ScanError): ToolResult {
  return {
    content: [{ type: 'text', text: `${error.type}: ${error.message}\nWhat to do: ${error.recoverySuggestion}${error.retryAfterSec !== undefined ? `\nRetry after ${error.retryAfterSec} s.` : ''}` }],
    structuredContent: { error },
    isError: true,
  };
}
