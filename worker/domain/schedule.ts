import { Cron } from 'croner';
import { z } from 'zod';
import { scanError, type ScanError } from '../../shared/errors/index.ts';
import { ScanArgsSchema, ScanTargetSchema } from '../../shared/policy/request.ts';

/**
 * Scan schedules, as pure rules: what a schedule is (zod), when it runs next (a 5-field cron expression in UTC or a
 * named time zone, or a fixed interval), blackout windows in which nothing may start, and what the pool's alarm does
 * with one that is due. No I/O; the clock is an argument.
 *
 * MUST hold (schedule.test.ts): missed runs never pile up (a schedule that was due many times while the pool was down
 * runs once, then resumes its timetable); a run never starts inside a blackout window; no two runs of one schedule
 * overlap (the Coordinator skips a run while the previous one is active).
 */

/** The shortest gap between two runs: a lab network is not a target to hammer. */
export const MIN_GAP_SEC = 300;
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
const CLOCK = /^([01]\d|2[0-3]):([0-5]\d)$/;

export const ScheduleScan = z.strictObject({
  target: ScanTargetSchema,
  template: z.string().max(32).optional(),
  args: ScanArgsSchema.optional(),
  timeoutSec: z.number().int().min(1).max(3600).optional(),
});

export const Blackout = z.strictObject({
  /** Days the window starts on, in the schedule's time zone; all days when absent. */
  days: z.array(z.enum(DAYS)).min(1).max(7).optional(),
  start: z.string().regex(CLOCK, 'a time of day, HH:MM'),
  /** Exclusive; earlier than start for a window across midnight (22:00 to 06:00). */
  end: z.string().regex(CLOCK, 'a time of day, HH:MM'),
});

function validTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

const Timing = {
  cron: z.string().min(9).max(120).optional(),
  intervalSec: z
    .number()
    .int()
    .min(MIN_GAP_SEC)
    .max(31 * 86_400)
    .optional(),
  timeZone: z.string().max(64).refine(validTimeZone, 'an IANA time zone such as UTC or Europe/Berlin').optional(),
  blackouts: z.array(Blackout).max(16).optional(),
};

export const ScheduleInput = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'letters, digits, dot, underscore, hyphen; at most 64'),
  scan: ScheduleScan,
  ...Timing,
  enabled: z.boolean().optional(),
});
export type ScheduleInput = z.infer<typeof ScheduleInput>;

/** PATCH: any field but the name; `enabled: true` also clears a pause. */
export const SchedulePatch = z.strictObject({
  scan: ScheduleScan.optional(),
  ...Timing,
  enabled: z.boolean().optional(),
});
export type SchedulePatch = z.infer<typeof SchedulePatch>;

/** What is stored: the input with its defaults filled in. */
export interface ScheduleSpec {
  scan: z.infer<typeof ScheduleScan>;
  cron: string | null;
  intervalSec: number | null;
  timeZone: string;
  blackouts: Array<z.infer<typeof Blackout>>;
}

export function specOf(input: Omit<SchedulePatch, 'enabled'> & { scan: ScheduleSpec['scan'] }): ScheduleSpec {
  return {
    scan: input.scan,
    cron: input.cron ?? null,
    intervalSec: input.intervalSec ?? null,
    timeZone: input.timeZone ?? 'UTC',
    blackouts: input.blackouts ?? [],
  };
}

function cronOf(spec: ScheduleSpec): Cron {
  return new Cron(spec.cron!, { timezone: spec.timeZone, paused: true, mode: '5-part' });
}

/**
 * Whether the timing is usable: exactly one of cron and intervalSec; a cron of exactly five fields that croner
 * reads; runs at least MIN_GAP_SEC apart; not every run inside a blackout.
 */
export function checkTiming(spec: ScheduleSpec, now: number): ScanError | null {
  const bad = (message: string, fix: string) => scanError('validation_error', message, fix);
  if ((spec.cron === null) === (spec.intervalSec === null))
    return bad(
      'A schedule needs exactly one of cron and intervalSec',
      'Give cron ("0 3 * * *") or intervalSec (3600).',
    );
  if (spec.cron !== null) {
    const fields = spec.cron.trim().split(/\s+/);
    if (fields.length !== 5)
      return bad(
        `cron must have 5 fields (minute hour day-of-month month day-of-week), not ${fields.length}: ${spec.cron}`,
        'Write it as "m h dom mon dow", e.g. "0 3 * * 1" for 03:00 every Monday.',
      );
    let runs: Date[];
    try {
      runs = cronOf(spec).nextRuns(3, new Date(now));
    } catch (e) {
      return bad(`cron ${spec.cron} is not valid: ${(e as Error).message}`, 'Check each field; e.g. "*/30 * * * *".');
    }
    if (runs.length === 0) return bad(`cron ${spec.cron} never runs`, 'Give a cron expression that matches a date.');
    for (let i = 1; i < runs.length; i++) {
      if (runs[i]!.getTime() - runs[i - 1]!.getTime() < MIN_GAP_SEC * 1000)
        return bad(
          `cron ${spec.cron} runs more often than every ${MIN_GAP_SEC / 60} minutes`,
          `Space runs at least ${MIN_GAP_SEC / 60} minutes apart, e.g. "*/15 * * * *".`,
        );
    }
  }
  for (const b of spec.blackouts) {
    if (b.start === b.end)
      return bad(`A blackout from ${b.start} to ${b.end} is empty`, 'Give an end after the start.');
  }
  if (nextRunAfter(spec, now, now) === null)
    return bad(
      'Every run of this schedule falls in a blackout window',
      'Move the blackout windows or the timetable so that some runs fall outside them.',
    );
  return null;
}

const clocks = new Map<string, Intl.DateTimeFormat>();

/** Day of week and minutes since midnight of `at` in `zone` (formatters are costly to build: one per zone). */
function localClock(at: number, zone: string): { day: number; minutes: number } {
  let format = clocks.get(zone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      weekday: 'short',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    });
    clocks.set(zone, format);
  }
  const parts = format.formatToParts(new Date(at));
  const get = (type: string) => parts.find((p) => p.type === type)?.value ?? '';
  const day = DAYS.indexOf(get('weekday').toLowerCase().slice(0, 3) as (typeof DAYS)[number]);
  return { day, minutes: Number(get('hour')) * 60 + Number(get('minute')) };
}

const minutesOf = (clock: string) => Number(clock.slice(0, 2)) * 60 + Number(clock.slice(3, 5));

/** The blackout window `at` falls in, or null. A window across midnight belongs to the day it starts. */
export function blackoutAt(
  spec: Pick<ScheduleSpec, 'blackouts' | 'timeZone'>,
  at: number,
): z.infer<typeof Blackout> | null {
  if (spec.blackouts.length === 0) return null;
  const { day, minutes } = localClock(at, spec.timeZone);
  for (const b of spec.blackouts) {
    const [start, end] = [minutesOf(b.start), minutesOf(b.end)];
    const on = (d: number) => !b.days || b.days.includes(DAYS[(d + 7) % 7]!);
    const inside =
      start < end
        ? on(day) && minutes >= start && minutes < end
        : (on(day) && minutes >= start) || (on(day - 1) && minutes < end);
    if (inside) return b;
  }
  return null;
}

/**
 * The first run strictly after `after` that is outside every blackout, or null when none is found within a year.
 * Intervals count from `anchor` (when the schedule was made), so a timetable does not drift with late alarms.
 */
export function nextRunAfter(spec: ScheduleSpec, after: number, anchor: number): number | null {
  const limit = after + 366 * 86_400_000;
  const cron = spec.cron === null ? null : cronOf(spec);
  let t = after;
  for (let i = 0; i < 5000; i++) {
    let next: number | null;
    if (cron !== null) {
      next = cron.nextRun(new Date(t))?.getTime() ?? null;
    } else {
      const step = spec.intervalSec! * 1000;
      next = anchor + (Math.floor((t - anchor) / step) + 1) * step;
    }
    if (next === null || next > limit) return null;
    if (!blackoutAt(spec, next)) return next;
    t = next;
  }
  return null;
}

/** What the alarm does with a schedule: nothing yet, start a run, or skip this one (and why). */
export type DueDecision =
  | { kind: 'wait'; at: number }
  | { kind: 'run'; next: number | null; missed: boolean }
  | { kind: 'skip'; reason: string; next: number | null };

/**
 * One schedule at `now`. Due runs that were missed while the pool was down collapse into one run now (`missed`),
 * then the timetable resumes after now: never a pile-up. A run that would start in a blackout, or while the previous
 * run is still active, is skipped with a reason.
 */
export function dueDecision(
  spec: ScheduleSpec,
  state: { nextRunAt: number | null; anchor: number; previousActive: boolean },
  now: number,
): DueDecision {
  if (state.nextRunAt === null) return { kind: 'wait', at: Number.POSITIVE_INFINITY };
  if (state.nextRunAt > now) return { kind: 'wait', at: state.nextRunAt };
  const next = nextRunAfter(spec, now, state.anchor);
  const window = blackoutAt(spec, now);
  if (window)
    return { kind: 'skip', reason: `in the blackout window ${window.start}–${window.end} (${spec.timeZone})`, next };
  if (state.previousActive) return { kind: 'skip', reason: 'the previous run is still running', next };
  // Late by more than a minute: the pool was down or busy when it was due.
  return { kind: 'run', next, missed: now - state.nextRunAt > 60_000 };
}
