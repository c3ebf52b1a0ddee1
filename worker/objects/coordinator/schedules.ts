import { scanError, type ScanError } from '../../../shared/errors/index.ts';
import { validateScanRequest } from '../../../shared/policy/index.ts';
import { isActive, type Scan } from '../../../shared/scan/index.ts';
import type { Principal } from '../../domain/principal.ts';
import { fail, ok, type Result } from '../../domain/result.ts';
import {
  blackoutAt,
  checkTiming,
  dueDecision,
  nextRunAfter,
  type ScheduleInput,
  type SchedulePatch,
  type ScheduleSpec,
  specOf,
} from '../../domain/schedule.ts';
import { newId } from '../../domain/tokens.ts';
import type { ScheduleRecord, ScheduleStore } from '../../storage/schedules.store.ts';
import type { Core } from './core.ts';
import type { ScanService } from './scans.ts';

/** The most schedules one pool keeps. */
export const MAX_SCHEDULES = 100;

/** A schedule as the API shows it: times as ISO strings, and one word for its state. */
export interface ScheduleView {
  id: string;
  name: string;
  scan: ScheduleSpec['scan'];
  cron: string | null;
  intervalSec: number | null;
  timeZone: string;
  blackouts: ScheduleSpec['blackouts'];
  state: 'active' | 'disabled' | 'paused';
  pausedReason: string | null;
  createdBy: string;
  createdAt: string;
  updatedAt: string;
  nextRunAt: string | null;
  lastRunAt: string | null;
  lastScanId: string | null;
  lastOutcome: string | null;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function scheduleView(r: ScheduleRecord): ScheduleView {
  return {
    id: r.id,
    name: r.name,
    ...r.spec,
    state: !r.enabled ? 'disabled' : r.pausedReason ? 'paused' : 'active',
    pausedReason: r.pausedReason,
    createdBy: r.createdBy,
    createdAt: iso(r.createdAt)!,
    updatedAt: iso(r.updatedAt)!,
    nextRunAt: r.enabled && !r.pausedReason ? iso(r.nextRunAt) : null,
    lastRunAt: iso(r.lastRunAt),
    lastScanId: r.lastScanId,
    lastOutcome: r.lastOutcome,
  };
}

const notFound = (idOrName: string): ScanError =>
  scanError('not_found', `No schedule ${idOrName} in this pool`, 'List the schedules with GET /v1/schedules.');

/** A refusal that a policy change explains (the request itself is no longer allowed), as opposed to a busy pool. */
const POLICY_REFUSALS = new Set(['validation_error', 'forbidden']);

/**
 * A pool's scan schedules: admin-owned, validated against the policy when made and at every run, run by the pool's
 * one alarm. A run is a normal scan (audited, breaker-aware, in every list) by the schedule's own principal, so its
 * diffs compare it with the schedule's previous run and its rate limits are its own.
 */
export class Schedules {
  readonly #core: Core;
  readonly #store: ScheduleStore;
  readonly #scans: ScanService;

  constructor(core: Core, store: ScheduleStore, scans: ScanService) {
    this.#core = core;
    this.#store = store;
    this.#scans = scans;
  }

  list(): ScheduleView[] {
    return this.#store.list().map(scheduleView);
  }

  get(idOrName: string): Result<ScheduleView> {
    const r = this.#store.get(idOrName);
    return r ? ok(scheduleView(r)) : fail(notFound(idOrName));
  }

  /** Refuses what the policy would refuse now, or timing that cannot work. */
  #check(spec: ScheduleSpec, now: number): ScanError | null {
    const timing = checkTiming(spec, now);
    if (timing) return timing;
    const checked = validateScanRequest(spec.scan, this.#core.policy());
    return checked.ok ? null : checked.error;
  }

  /** `pool` is this object's pool name, remembered for the principal scheduled runs act as. */
  create(principal: Principal, pool: string, input: ScheduleInput): Result<ScheduleView> {
    const now = Date.now();
    this.#core.sql.exec(`INSERT INTO meta (key, value) VALUES ('pool', ?) ON CONFLICT(key) DO NOTHING`, pool);
    if (this.#store.get(input.name))
      return fail(scanError('conflict', `A schedule named ${input.name} exists`, 'Choose another name, or PATCH it.'));
    if (this.#store.count() >= MAX_SCHEDULES)
      return fail(
        scanError('conflict', `This pool has ${MAX_SCHEDULES} schedules, the most it keeps`, 'Delete one first.'),
      );
    const spec = specOf(input);
    const problem = this.#check(spec, now);
    if (problem) return this.#refused(principal, 'schedule.create', input.name, problem);
    const record: ScheduleRecord = {
      id: newId('sch'),
      name: input.name,
      spec,
      enabled: input.enabled ?? true,
      pausedReason: null,
      createdBy: principal.name,
      createdAt: now,
      updatedAt: now,
      nextRunAt: nextRunAfter(spec, now, now),
      lastRunAt: null,
      lastScanId: null,
      lastOutcome: null,
    };
    this.#store.insert(record);
    this.#core.audit.record(principal.name, 'schedule.create', 'accepted', {
      scheduleId: record.id,
      name: record.name,
    });
    return ok(scheduleView(record));
  }

  update(principal: Principal, idOrName: string, patch: SchedulePatch): Result<ScheduleView> {
    const r = this.#store.get(idOrName);
    if (!r) return fail(notFound(idOrName));
    const now = Date.now();
    const timingChanged = patch.cron !== undefined || patch.intervalSec !== undefined;
    const spec = specOf({
      scan: patch.scan ?? r.spec.scan,
      // A new cron replaces the interval and the other way round.
      ...(timingChanged
        ? { cron: patch.cron, intervalSec: patch.intervalSec }
        : { cron: r.spec.cron ?? undefined, intervalSec: r.spec.intervalSec ?? undefined }),
      timeZone: patch.timeZone ?? r.spec.timeZone,
      blackouts: patch.blackouts ?? r.spec.blackouts,
    });
    const problem = this.#check(spec, now);
    if (problem) return this.#refused(principal, 'schedule.update', r.name, problem);
    const enabled = patch.enabled ?? r.enabled;
    const next: ScheduleRecord = {
      ...r,
      spec,
      enabled,
      // Any accepted change re-validated the request: a pause has nothing left to explain.
      pausedReason: null,
      updatedAt: now,
      nextRunAt: nextRunAfter(spec, now, timingChanged ? now : r.createdAt),
    };
    this.#store.save(next);
    this.#core.audit.record(principal.name, 'schedule.update', 'accepted', {
      scheduleId: r.id,
      name: r.name,
      fields: Object.keys(patch),
    });
    return ok(scheduleView(next));
  }

  delete(principal: Principal, idOrName: string): Result<ScheduleView> {
    const r = this.#store.get(idOrName);
    if (!r) return fail(notFound(idOrName));
    this.#store.delete(r.id);
    this.#core.audit.record(principal.name, 'schedule.delete', 'accepted', { scheduleId: r.id, name: r.name });
    return ok(scheduleView(r));
  }

  /** Starts a run now (an admin asked): refused in a blackout and while the previous run is active. */
  async runNow(principal: Principal, idOrName: string): Promise<Result<{ schedule: ScheduleView; scan: Scan }>> {
    const r = this.#store.get(idOrName);
    if (!r) return fail(notFound(idOrName));
    const now = Date.now();
    const window = blackoutAt(r.spec, now);
    if (window)
      return fail(
        scanError(
          'conflict',
          `Schedule ${r.name} is in its blackout window ${window.start}–${window.end} (${r.spec.timeZone}); nothing may start now`,
          `Run it after ${window.end}, or change its blackouts.`,
        ),
      );
    if (this.#previousActive(r))
      return fail(
        scanError(
          'conflict',
          `Schedule ${r.name}'s previous run ${r.lastScanId} is still running`,
          'Wait for it to end, or cancel it, then run the schedule again.',
        ),
      );
    this.#core.audit.record(principal.name, 'schedule.run', 'accepted', { scheduleId: r.id, name: r.name });
    const started = await this.#start(r, now, 'run now');
    if (!started.ok) return started;
    return ok({ schedule: scheduleView(this.#store.get(r.id)!), scan: started.value });
  }

  /** The alarm's work: every due schedule runs once, or is skipped with a reason; the timetable moves on. */
  async onAlarm(now: number): Promise<void> {
    for (const r of this.#store.due(now)) {
      const decision = dueDecision(
        r.spec,
        { nextRunAt: r.nextRunAt, anchor: r.createdAt, previousActive: this.#previousActive(r) },
        now,
      );
      if (decision.kind === 'wait') continue;
      if (decision.kind === 'skip') {
        this.#store.save({ ...r, nextRunAt: decision.next, lastOutcome: `skipped: ${decision.reason}` });
        this.#core.audit.record(`schedule ${r.name}`, 'schedule.skip', 'skipped', {
          scheduleId: r.id,
          reason: decision.reason,
        });
        continue;
      }
      // The timetable moves on before the run starts, so a failure to start can never make it run again at once.
      this.#store.save({ ...r, nextRunAt: decision.next });
      await this.#start(this.#store.get(r.id)!, now, decision.missed ? 'catch-up after a missed run' : 'on time');
    }
  }

  nextDue(): number | null {
    return this.#store.nextDue();
  }

  #previousActive(r: ScheduleRecord): boolean {
    const last = r.lastScanId ? this.#core.jobs.get(r.lastScanId) : undefined;
    return last !== undefined && isActive(last.status);
  }

  /** One run: a normal scan by the schedule's principal, re-checked by the policy as every scan is. */
  async #start(r: ScheduleRecord, now: number, trigger: string): Promise<Result<Scan>> {
    const pool = this.#core.sql
      .exec<{ value: string }>(`SELECT value FROM meta WHERE key = 'pool'`)
      .toArray()[0]?.value;
    const principal: Principal = { tokenId: r.id, name: `schedule ${r.name}`, role: 'scan', pool: pool ?? 'default' };
    const created = await this.#scans.create(principal, r.spec.scan, { scheduleId: r.id });
    const current = this.#store.get(r.id) ?? r;
    if (created.ok) {
      this.#store.save({
        ...current,
        lastRunAt: now,
        lastScanId: created.value.scan.id,
        lastOutcome: `started (${trigger})`,
      });
      return ok(created.value.scan);
    }
    const { error } = created;
    if (POLICY_REFUSALS.has(error.type)) {
      // The policy no longer allows this request: pause with the reason shown until an admin changes or resumes it.
      this.#store.save({
        ...current,
        pausedReason: `${error.message}. ${error.recoverySuggestion}`,
        lastOutcome: `refused: ${error.type}`,
      });
      this.#core.audit.record(`schedule ${r.name}`, 'schedule.pause', 'refused', {
        scheduleId: r.id,
        error: error.type,
        message: error.message,
      });
    } else {
      this.#store.save({ ...current, lastOutcome: `failed to start: ${error.type}: ${error.message}` });
    }
    return created;
  }

  #refused(principal: Principal, action: string, name: string, error: ScanError): Result<never> {
    this.#core.audit.record(principal.name, action, 'refused', { name, error: error.type, message: error.message });
    return fail(error);
  }
}
