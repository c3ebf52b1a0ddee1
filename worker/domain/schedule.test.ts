import { describe, expect, it } from 'vitest';
import { blackoutAt, checkTiming, dueDecision, nextRunAfter, type ScheduleSpec, specOf } from './schedule.ts';

const SCAN = { target: '127.0.0.1' };
const at = (iso: string) => Date.parse(iso);
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const spec = (over: Partial<ScheduleSpec>): ScheduleSpec => ({ ...specOf({ scan: SCAN }), ...over });

describe('schedule timing', () => {
  it('runs a 5-field cron in UTC and in a named time zone, across a DST change', () => {
    const daily = spec({ cron: '0 3 * * *' });
    expect(iso(nextRunAfter(daily, at('2026-11-30T08:00:00Z'), 0))).toBe('2026-12-01T03:00:00.000Z');
    const berlin = spec({ cron: '0 3 * * *', timeZone: 'Europe/Berlin' });
    // 03:00 in Berlin is 02:00 UTC in winter and 01:00 UTC in summer (DST began 2027-03-28).
    expect(iso(nextRunAfter(berlin, at('2026-11-30T08:00:00Z'), 0))).toBe('2026-12-01T02:00:00.000Z');
    expect(iso(nextRunAfter(berlin, at('2027-03-28T12:00:00Z'), 0))).toBe('2027-03-29T01:00:00.000Z');
  });

  it('reads day-of-month and day-of-week together as cron does (either matches)', () => {
    const firstOrMonday = spec({ cron: '0 0 1 * 1' });
    // 2026-11-30 is a Monday; the next match after it is 1 December (the 1st), then Monday 7 December.
    expect(iso(nextRunAfter(firstOrMonday, at('2026-11-30T12:00:00Z'), 0))).toBe('2026-12-01T00:00:00.000Z');
    expect(iso(nextRunAfter(firstOrMonday, at('2026-12-01T12:00:00Z'), 0))).toBe('2026-12-07T00:00:00.000Z');
  });

  it('keeps an interval on its timetable from the anchor, not from late alarms', () => {
    const hourly = spec({ intervalSec: 3600 });
    const anchor = at('2026-11-30T08:07:00Z');
    expect(iso(nextRunAfter(hourly, at('2026-11-30T09:30:00Z'), anchor))).toBe('2026-11-30T10:07:00.000Z');
    expect(iso(nextRunAfter(hourly, at('2026-11-30T10:07:00Z'), anchor))).toBe('2026-11-30T11:07:00.000Z');
  });

  it('refuses timing that is missing, doubled, not five fields, too frequent, invalid or always blacked out', () => {
    const now = at('2026-11-30T08:00:00Z');
    const message = (s: ScheduleSpec) => checkTiming(s, now)?.message ?? null;
    expect(message(spec({}))).toContain('exactly one of cron and intervalSec');
    expect(message(spec({ cron: '0 3 * * *', intervalSec: 3600 }))).toContain('exactly one');
    expect(message(spec({ cron: '0 0 3 * * *' }))).toContain('5 fields');
    expect(message(spec({ cron: '* * * * *' }))).toContain('more often than every 5 minutes');
    expect(message(spec({ cron: '0 25 * * *' }))).toContain('not valid');
    expect(
      message(
        spec({
          intervalSec: 3600,
          blackouts: [
            { start: '00:00', end: '23:59' },
            { start: '23:59', end: '00:00' },
          ],
        }),
      ),
    ).toContain('blackout');
    expect(message(spec({ cron: '*/15 * * * *', timeZone: 'America/New_York' }))).toBeNull();
    for (const s of [spec({ cron: '0 3 * * *' }), spec({ intervalSec: 300 })]) expect(checkTiming(s, now)).toBeNull();
  });
});

describe('blackout windows', () => {
  const weeknights = spec({
    cron: '0 * * * *',
    timeZone: 'Europe/Berlin',
    blackouts: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], start: '22:00', end: '06:00' }],
  });

  it('holds a window across midnight on the day it starts, in the schedule time zone', () => {
    // Monday 22:30 Berlin (21:30 UTC) and Tuesday 05:30 Berlin: inside; Saturday 05:30 (Friday night's): inside.
    expect(blackoutAt(weeknights, at('2026-11-30T21:30:00Z'))).not.toBeNull();
    expect(blackoutAt(weeknights, at('2026-12-01T04:30:00Z'))).not.toBeNull();
    expect(blackoutAt(weeknights, at('2026-12-05T04:30:00Z'))).not.toBeNull();
    // Sunday 05:30 (Saturday night's, not a weeknight) and Monday 06:00 (the end is exclusive): outside.
    expect(blackoutAt(weeknights, at('2026-12-06T04:30:00Z'))).toBeNull();
    expect(blackoutAt(weeknights, at('2026-11-30T05:00:00Z'))).toBeNull();
  });

  it('skips runs that fall in a window to the first one after it', () => {
    // Hourly from Monday 20:00 Berlin: 21:00 runs, 22:00..05:00 are blacked out, next is Tuesday 06:00 Berlin.
    expect(iso(nextRunAfter(weeknights, at('2026-11-30T19:30:00Z'), 0))).toBe('2026-11-30T20:00:00.000Z');
    expect(iso(nextRunAfter(weeknights, at('2026-11-30T20:00:00Z'), 0))).toBe('2026-12-01T05:00:00.000Z');
  });
});

describe('what the alarm does with a due schedule', () => {
  const hourly = spec({ intervalSec: 3600 });
  const anchor = at('2026-11-30T00:00:00Z');

  it('waits until it is due', () => {
    expect(
      dueDecision(
        hourly,
        { nextRunAt: at('2026-11-30T09:00:00Z'), anchor, previousActive: false },
        at('2026-11-30T08:59:00Z'),
      ),
    ).toEqual({
      kind: 'wait',
      at: at('2026-11-30T09:00:00Z'),
    });
  });

  it('runs a schedule missed many times once, then resumes its timetable after now (no pile-up)', () => {
    const now = at('2026-12-02T08:30:00Z'); // 2 days of downtime: 48 runs missed
    const decision = dueDecision(hourly, { nextRunAt: at('2026-11-30T09:00:00Z'), anchor, previousActive: false }, now);
    expect(decision).toEqual({ kind: 'run', next: at('2026-12-02T09:00:00Z'), missed: true });
    // Run again at the same instant: the next one is in the future, so nothing more runs.
    expect(
      dueDecision(hourly, { nextRunAt: at('2026-12-02T09:00:00Z'), anchor, previousActive: false }, now).kind,
    ).toBe('wait');
  });

  it('skips a run while the previous one is active, and one that would start in a blackout', () => {
    const now = at('2026-11-30T09:00:05Z');
    const busy = dueDecision(hourly, { nextRunAt: at('2026-11-30T09:00:00Z'), anchor, previousActive: true }, now);
    expect(busy).toEqual({
      kind: 'skip',
      reason: 'the previous run is still running',
      next: at('2026-11-30T10:00:00Z'),
    });
    const frozen = spec({ intervalSec: 3600, blackouts: [{ start: '08:30', end: '09:30' }] });
    const inWindow = dueDecision(frozen, { nextRunAt: at('2026-11-30T09:00:00Z'), anchor, previousActive: false }, now);
    expect(inWindow).toMatchObject({
      kind: 'skip',
      reason: 'in the blackout window 08:30–09:30 (UTC)',
      next: at('2026-11-30T10:00:00Z'),
    });
  });
});
