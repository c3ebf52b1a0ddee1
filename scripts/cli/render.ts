/**
 * What the `scangate` CLI prints, as pure functions: tables, the progress bar, scans and errors. Every string
 * that came from the scanned network (banners, product names, hostnames) is untrusted: control characters are
 * replaced before they reach a terminal, so a hostile service cannot move the cursor or retitle the window.
 */
import { openPorts, type Report } from '../../shared/nmap-xml/index.ts';
import { isActive, type JobStatus } from '../../shared/scan/index.ts';

// C0 and C1 control characters (ESC, CSI, BEL …) except the two that lay out text.
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

/** Terminal-safe text: control characters become U+FFFD; `keepLines` keeps newlines and tabs. */
export function safeText(text: string, keepLines = false): string {
  const cleaned = text.replace(CONTROL, '\ufffd');
  return keepLines ? cleaned : cleaned.replace(/[\n\t]/g, ' ');
}

/** A plain-text table: a header row, a rule, then rows; columns padded to their widest cell. */
export function table(header: string[], rows: string[][]): string {
  const cells = [header, ...rows].map((row) => row.map((cell) => safeText(cell)));
  const widths = header.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? '').length)));
  const line = (row: string[]) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(cells[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

/** `[#########...........]  45%  syn scan, ~12 s left` */
export function progressBar(percent: number, detail = '', width = 30): string {
  const p = Math.min(100, Math.max(0, percent));
  const filled = Math.round((p / 100) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${p.toFixed(0).padStart(3)}%${detail ? `  ${safeText(detail)}` : ''}`;
}

/** What the CLI reads of a scan (the edge's Scan, shared/scan; some fields only in some answers). */
export interface ScanView {
  id: string;
  status: JobStatus;
  targets: string[];
  argv: string[];
  durationMs: number | null;
  exitCode: number | null;
  truncated: { stdout: boolean; stderr: boolean };
  error: { type: string; message: string; recoverySuggestion: string; retryAfterSec?: number } | null;
  report: Report | null;
  createdAt?: string;
  requestedBy?: { name: string };
  warnings?: string[];
  progress?: { percent: number; phase?: string; etaSec?: number } | null;
}

export function formatError(error: {
  type: string;
  message: string;
  recoverySuggestion?: string;
  retryAfterSec?: number;
}): string {
  const lines = [`error (${error.type}): ${safeText(error.message)}`];
  if (error.recoverySuggestion) lines.push(`  what to do: ${safeText(error.recoverySuggestion)}`);
  if (error.retryAfterSec !== undefined) lines.push(`  retry after: ${error.retryAfterSec} s`);
  return lines.join('\n');
}

/** A line per policy warning (a template option replaced, a duplicate target), or nothing. */
export function formatWarnings(warnings: string[] | undefined): string[] {
  return (warnings ?? []).map((w) => `  warning: ${safeText(w)}`);
}

/** Where an unfinished scan is: its progress bar once nmap reports one, else what it waits for. */
export function formatProgress(scan: Pick<ScanView, 'status' | 'progress'>): string | undefined {
  if (!isActive(scan.status)) return undefined;
  if (scan.progress) {
    const p = scan.progress;
    return `  progress ${progressBar(p.percent, [p.phase, p.etaSec !== undefined && `~${p.etaSec} s left`].filter(Boolean).join(', '))}`;
  }
  return scan.status === 'queued' ? '  waiting for a runner' : '  started, no progress reported yet';
}

/** A finished (or running) scan: a headline, its progress or its hosts and open ports, warnings, any error. */
export function formatScan(scan: ScanView, options: { warnings?: boolean } = {}): string {
  const took = scan.durationMs === null ? '' : ` in ${(scan.durationMs / 1000).toFixed(1)} s`;
  const out = [`scan ${scan.id}: ${scan.status}${took}`, `  nmap ${scan.argv.map((a) => safeText(a)).join(' ')}`];
  const progress = formatProgress(scan);
  if (progress) out.push(progress);
  if (options.warnings !== false) out.push(...formatWarnings(scan.warnings));
  const report = scan.report;
  if (report) {
    out.push(`  ${report.stats.hostsUp} of ${report.stats.hostsTotal} host(s) up`);
    const hosts = report.hosts.filter((h) => h.status === 'up');
    if (hosts.length) {
      out.push(
        '',
        table(
          ['HOST', 'NAME', 'STATUS'],
          hosts.map((h) => [h.addresses[0]?.addr ?? '?', h.hostnames[0]?.name ?? '', h.status]),
        ),
      );
    }
    const ports = openPorts(report);
    out.push('');
    out.push(
      ports.length
        ? table(
            ['HOST', 'PORT', 'STATE', 'SERVICE', 'VERSION'],
            ports.map(({ host, port }) => [
              host,
              `${port.port}/${port.protocol}`,
              port.state,
              port.service?.name ?? '',
              [port.service?.product, port.service?.version, port.service?.extraInfo && `(${port.service.extraInfo})`]
                .filter(Boolean)
                .join(' '),
            ]),
          )
        : 'no open ports found',
    );
  }
  if (scan.truncated.stdout || scan.truncated.stderr) out.push('', 'note: output was truncated at the policy cap');
  if (scan.error) out.push('', formatError(scan.error));
  return out.join('\n');
}

/** One line per scan for `scangate list`. */
export function scanRows(scans: ScanView[]): string {
  if (!scans.length) return 'no scans';
  return table(
    ['ID', 'STATUS', 'TARGETS', 'CREATED', 'DURATION', 'OPEN', 'BY'],
    scans.map((s) => [
      s.id,
      s.status,
      s.targets.join(','),
      s.createdAt ?? '',
      s.durationMs === null ? '' : `${(s.durationMs / 1000).toFixed(1)}s`,
      s.report ? String(openPorts(s.report).length) : '',
      s.requestedBy?.name ?? '',
    ]),
  );
}
