/** What `scangate schedules` prints. Pure. */
import type { ScheduleView } from '../../worker/objects/coordinator/schedules.ts';
import { table } from './render.ts';

const when = (iso: string | null) => (iso ? iso.slice(0, 16).replace('T', ' ') : '-');

export function formatSchedules(schedules: ScheduleView[]): string {
  if (schedules.length === 0)
    return 'no schedules: make one with `scangate schedules create <name> <target> --cron "0 3 * * *"`';
  const rows = schedules.map((s) => [
    s.name,
    s.state,
    s.cron ? `${s.cron} (${s.timeZone})` : `every ${s.intervalSec} s`,
    s.scan.target.toString(),
    when(s.nextRunAt),
    s.lastScanId ? `${when(s.lastRunAt)} ${s.lastScanId}` : '-',
  ]);
  const paused = schedules.filter((s) => s.pausedReason).map((s) => `${s.name} is paused: ${s.pausedReason}`);
  return [table(['name', 'state', 'when', 'target', 'next run (UTC)', 'last run'], rows), ...paused].join('\n');
}
