/** @jsxImportSource hono/jsx */
/**
 * The dashboard's schedules page: each schedule's timetable, state (a pause shows its reason), next run, last run
 * and what that run changed, with Run now / Pause / Resume. Pure hono/jsx; actions go through /dashboard/actions
 * (CSRF-checked, audited) like every other button.
 */
import type { ScanChanges } from '../../../shared/scan/index.ts';
import type { ScheduleView } from '../../objects/coordinator/schedules.ts';
import { ActionForm, Header, Layout, Notices } from './views.tsx';

const when = (iso: string | null) => (iso ? `${iso.slice(0, 16).replace('T', ' ')} UTC` : '');

export function SchedulesPage(props: {
  nonce: string;
  csrf: string;
  who: string;
  schedules: ScheduleView[];
  /** What each schedule's last run changed, by scan id (absent: nothing to compare, or still running). */
  changes: Record<string, ScanChanges | null>;
  notice?: string;
  error?: string;
}) {
  return (
    <Layout title="scangate: schedules" nonce={props.nonce} csrf={props.csrf}>
      <Header who={props.who} csrf={props.csrf} />
      <main>
        <p>
          <a href="/dashboard">← Dashboard</a>
        </p>
        <h2>Schedules</h2>
        <Notices notice={props.notice} error={props.error} />
        {props.schedules.length === 0 ? (
          <p class="empty">No schedules yet: make one with POST /v1/schedules or `scangate schedules create`.</p>
        ) : (
          <div class="scroll">
            <table>
              <thead>
                <tr>
                  <th>Name</th>
                  <th>State</th>
                  <th>When</th>
                  <th>Target</th>
                  <th>Next run</th>
                  <th>Last run</th>
                  <th></th>
                </tr>
              </thead>
              <tbody>
                {props.schedules.map((s) => {
                  const changed = s.lastScanId ? props.changes[s.lastScanId] : null;
                  return (
                    <tr data-schedule={s.name}>
                      <td>{s.name}</td>
                      <td>
                        <span class={`status status-${s.state}`}>{s.state}</span>
                        {s.pausedReason && <p class="error">{s.pausedReason}</p>}
                      </td>
                      <td>{s.cron ? `${s.cron} (${s.timeZone})` : `every ${s.intervalSec} s`}</td>
                      <td>{[s.scan.target].flat().join(', ')}</td>
                      <td>{when(s.nextRunAt)}</td>
                      <td>
                        {s.lastScanId ? (
                          <>
                            <a href={`/dashboard/scans/${s.lastScanId}#changes`}>{s.lastScanId}</a> {when(s.lastRunAt)}
                            {changed && <p>{changed.summary}</p>}
                          </>
                        ) : (
                          ''
                        )}
                        {s.lastOutcome && <p class="muted">{s.lastOutcome}</p>}
                      </td>
                      <td>
                        <ActionForm
                          action="schedule-run"
                          target={s.id}
                          label="Run now"
                          confirm={`Run ${s.name} now?`}
                          csrf={props.csrf}
                        />
                        {s.state === 'active' ? (
                          <ActionForm
                            action="schedule-pause"
                            target={s.id}
                            label="Pause"
                            confirm={`Pause ${s.name}?`}
                            csrf={props.csrf}
                          />
                        ) : (
                          <ActionForm
                            action="schedule-resume"
                            target={s.id}
                            label="Resume"
                            confirm={`Resume ${s.name}?`}
                            csrf={props.csrf}
                          />
                        )}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )}
      </main>
    </Layout>
  );
}
