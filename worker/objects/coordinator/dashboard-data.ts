import { openPorts } from '../../../shared/nmap-xml/index.ts';
import type { Breaker, Transition } from '../../domain/breaker.ts';
import type { Target } from '../../../shared/policy/index.ts';
import {
  TERMINAL_STATUSES,
  type JobStatus,
  type Scan,
  type ScanChanges,
  type TerminalStatus,
} from '../../../shared/scan/index.ts';
import type { RunnerRecord } from '../../storage/runners.store.ts';
import type { AlertsOverview } from './alerts.ts';
import { runnerSummary, type RunnerSummary } from '../../domain/runner-view.ts';

/**
 * What the dashboard shows, built from the Coordinator's state by pure functions (no I/O), so the page and the
 * live stream render the same thing and tests can build it from plain values.
 */
export interface DashboardData {
  now: number;
  allowIntrusive: boolean;
  queueDepth: number;
  runners: RunnerRow[];
  breakers: BreakerRow[];
  scans: ScanRow[];
  /** The last 60 minutes, oldest first: scans that ended in each minute, by outcome. */
  perMinute: MinuteBucket[];
  /** The latest scans that changed something since their previous scan of the same targets, newest first. */
  changes: ChangeRow[];
  /** The pool's alert rules (never their secrets), latest deliveries and the ones given up. */
  alerts: AlertsOverview;
}

export interface ChangeRow {
  id: string;
  targets: string[];
  by: string;
  finishedAt: string | null;
  since: string;
  summary: string;
}

export function changeRows(
  rows: ReadonlyArray<{ id: string; targets: string; token_name: string; finished_at: number | null; changes: string }>,
): ChangeRow[] {
  return rows.map((r) => {
    const changes = JSON.parse(r.changes) as ScanChanges;
    return {
      id: r.id,
      targets: (JSON.parse(r.targets) as Target[]).map((t) => t.value),
      by: r.token_name,
      finishedAt: r.finished_at === null ? null : new Date(r.finished_at).toISOString(),
      since: changes.since,
      summary: changes.summary,
    };
  });
}

/** A runner's row: the same projection GET /v1/runners shows. */
export type RunnerRow = RunnerSummary;

export interface BreakerRow {
  runnerId: string;
  runner: string;
  state: Breaker['state'];
  failures: number;
  threshold: number;
  recoveryTimeoutSec: number;
  halfOpenAt: number | null;
  /** Newest first, at most five. */
  transitions: Transition[];
  lastError: string | null;
}

export interface ScanRow {
  id: string;
  status: JobStatus;
  targets: string[];
  by: string;
  createdAt: string;
  durationMs: number | null;
  openPorts: number | null;
  percent: number | null;
}

/** How a scan can end, one bar colour each. */
export const OUTCOMES = TERMINAL_STATUSES;
export type Outcome = TerminalStatus;
export type MinuteBucket = { minute: number } & Record<Outcome, number>;

export function runnerRows(runners: Array<RunnerRecord & { running: number }>, now: number): RunnerRow[] {
  return runners.filter((r) => !r.revokedAt).map((r) => runnerSummary(r, now));
}

export function breakerRows(runners: RunnerRecord[], threshold: number): BreakerRow[] {
  return runners
    .filter((r) => !r.revokedAt)
    .map(({ id, name, breaker: b }) => ({
      runnerId: id,
      runner: name,
      state: b.state,
      failures: b.consecutiveFailures,
      threshold,
      recoveryTimeoutSec: b.recoveryTimeoutSec,
      halfOpenAt: b.state === 'OPEN' ? b.halfOpenAt : null,
      transitions: b.transitions.slice(-5).reverse(),
      lastError: b.errors.at(-1)?.message ?? null,
    }));
}

export function scanRows(scans: Scan[]): ScanRow[] {
  return scans.map((s) => ({
    id: s.id,
    status: s.status,
    targets: s.targets,
    by: s.requestedBy.name,
    createdAt: s.createdAt,
    durationMs: s.durationMs,
    openPorts: s.report ? openPorts(s.report).length : null,
    percent: s.progress?.percent ?? null,
  }));
}

/** Buckets ended scans into the 60 minutes before `now` (the current minute last). */
export function perMinute(ended: Array<{ finished_at: number; status: JobStatus }>, now: number): MinuteBucket[] {
  const current = Math.floor(now / 60_000);
  const buckets: MinuteBucket[] = Array.from({ length: 60 }, (_, i) => ({
    minute: current - 59 + i,
    succeeded: 0,
    failed: 0,
    cancelled: 0,
    rejected: 0,
  }));
  for (const { finished_at, status } of ended) {
    const index = Math.floor(finished_at / 60_000) - (current - 59);
    if (index >= 0 && index < 60 && (OUTCOMES as readonly string[]).includes(status))
      buckets[index]![status as Outcome]++;
  }
  return buckets;
}
