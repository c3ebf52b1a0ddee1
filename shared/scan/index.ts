/**
 * The one Scan model: a scan's statuses, which of them are final, what its id looks like, its public shape and the
 * error for a scan that is not there. REST, MCP, the dashboard and the CLI all take them from here, so a new status
 * or field is written once. Pure: no I/O (the store turns its rows into `Scan`s with `toScan`).
 */
import { scanError, type ScanError } from '../errors/index.ts';
import type { Report } from '../nmap-xml/index.ts';

/** Every status a scan can have, in the order a scan goes through them. */
export const SCAN_STATUSES = [
  'queued',
  'dispatched',
  'running',
  'succeeded',
  'failed',
  'cancelled',
  'rejected',
] as const;
export type JobStatus = (typeof SCAN_STATUSES)[number];

/** Statuses of a scan that has not ended: it can still be cancelled and still reports progress. */
export const ACTIVE_STATUSES = ['queued', 'dispatched', 'running'] as const satisfies readonly JobStatus[];
/** Statuses a scan ends in; a scan in one of them MUST never change again. */
export const TERMINAL_STATUSES = [
  'succeeded',
  'failed',
  'cancelled',
  'rejected',
] as const satisfies readonly JobStatus[];
export type TerminalStatus = (typeof TERMINAL_STATUSES)[number];

export const TERMINAL: ReadonlySet<JobStatus> = new Set(TERMINAL_STATUSES);

/** Whether a status (as a client read it, so any string) is one a scan ends in. */
export function isTerminal(status: string): boolean {
  return (TERMINAL_STATUSES as readonly string[]).includes(status);
}

/** Whether a status (as a client read it, so any string) is one of a scan still under way. */
export function isActive(status: string): boolean {
  return (ACTIVE_STATUSES as readonly string[]).includes(status);
}

/** What a scan id looks like (`scan_` and the id's random part); every route and tool checks ids with it. */
export const SCAN_ID_PATTERN = /^scan_[A-Za-z0-9_-]{1,32}$/;

/**
 * What a succeeded scan changed since the previous succeeded scan of the same targets by the same token, worked out
 * when it finished (worker/domain/diff). `quiet` when nothing a person should read changed (only "not checked"
 * or UDP flapping). GET /v1/scans/:id/diff has the details.
 */
export interface ScanChanges {
  since: string;
  summary: string;
  quiet: boolean;
  counts: {
    newHosts: number;
    hostsGone: number;
    opened: number;
    closed: number;
    services: number;
    certificates: number;
    scripts: number;
    notChecked: number;
  };
}

/** The public shape of a scan (REST, MCP, dashboard, CLI). */
export interface Scan {
  id: string;
  status: JobStatus;
  targets: string[];
  argv: string[];
  warnings: string[];
  needsPrivilege: boolean;
  timeoutSec: number;
  requestedBy: { tokenId: string; name: string };
  runnerId: string | null;
  createdAt: string;
  dispatchedAt: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  progress: { percent: number; phase?: string; etaSec?: number } | null;
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  truncated: { stdout: boolean; stderr: boolean };
  durationMs: number | null;
  error: ScanError | null;
  report: Report | null;
  outputBytes: number;
  /** Null until it succeeded, and for the first scan of its targets. */
  changes: ScanChanges | null;
  /** The schedule that started it, or null for a scan someone asked for. */
  scheduleId: string | null;
  /**
   * nmap's XML as the runner sent it, when the edge keeps it (GET /v1/scans/:id/xml): its size in bytes, and
   * whether it was cut at the cap (then it is not well-formed). Absent when there is none.
   */
  xml?: { bytes: number; truncated: boolean };
}

/**
 * The one answer for a scan id that names no scan the caller may see (unknown, malformed, or another token's: the
 * caller cannot tell them apart). The fix names the REST route; MCP and the CLI reword it for their users.
 */
export function scanNotFound(id: string): ScanError {
  return scanError('not_found', `No scan ${id}`, 'List your scans with GET /v1/scans.');
}
