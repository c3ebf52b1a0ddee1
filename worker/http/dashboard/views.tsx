/** @jsxImportSource hono/jsx */
/**
 * The dashboard's HTML, as pure hono/jsx components. Every value from a runner or the scanned network is text
 * that JSX escapes; nothing here builds markup from strings. No inline style attributes or handlers: the CSP
 * allows only the nonce'd <style> and <script>. Longer than ~300 lines: one component per section of the front
 * page, kept together so the page reads top to bottom (the scan page is scan-page.tsx).
 */
import { AddRunnerForm } from './add-runner-form.tsx';
import { AlertsSection } from './alerts-section.tsx';
import { ChangesFeed } from './changes-feed.tsx';
import { raw } from 'hono/html';
import type { Child } from 'hono/jsx';
import { isOutdated, RUNNER_VERSION } from '../../../shared/protocol/runner-version.ts';
import { isActive } from '../../../shared/scan/index.ts';
import { DASHBOARD_CSS, DASHBOARD_JS } from './assets.ts';
import {
  OUTCOMES,
  type BreakerRow,
  type DashboardData,
  type MinuteBucket,
  type RunnerRow,
  type ScanRow,
} from '../../objects/coordinator/dashboard-data.ts';

const time = (ms: number | null) => (ms === null ? '' : new Date(ms).toISOString().slice(11, 19));
export const seconds = (ms: number | null) => (ms === null ? '' : `${(ms / 1000).toFixed(1)} s`);

function stateClass(state: string): string {
  return `state state-${state.toLowerCase().replace('_', '-')}`;
}

export function ActionForm(props: {
  action: string;
  target: string;
  label: string;
  confirm: string;
  csrf: string | undefined;
  value?: string;
  danger?: boolean;
}) {
  return (
    <form method="post" action="/dashboard/actions" data-confirm={props.confirm} class="inline">
      <input type="hidden" name="action" value={props.action} />
      <input type="hidden" name="target" value={props.target} />
      {props.value !== undefined && <input type="hidden" name="value" value={props.value} />}
      <input type="hidden" name="csrf" value={props.csrf ?? ''} />
      <button type="submit" class={props.danger ? 'danger' : ''}>
        {props.label}
      </button>
    </form>
  );
}

export function Layout(props: { title: string; nonce: string; csrf?: string; children: Child }) {
  return (
    <>
      {raw('<!doctype html>')}
      <html lang="en">
        <head>
          <meta charset="utf-8" />
          <meta name="viewport" content="width=device-width, initial-scale=1" />
          {props.csrf && <meta name="csrf-token" content={props.csrf} />}
          <title>{props.title}</title>
          <link rel="icon" href="data:," />
          <style nonce={props.nonce}>{raw(DASHBOARD_CSS)}</style>
        </head>
        <body>
          {props.children}
          <script nonce={props.nonce}>{raw(DASHBOARD_JS)}</script>
        </body>
      </html>
    </>
  );
}

export function LoginPage(props: { nonce: string; error?: string }) {
  return (
    <Layout title="scangate: log in" nonce={props.nonce}>
      <main class="login">
        <h1>scangate</h1>
        <p>Log in with an admin token.</p>
        {props.error && (
          <p class="error" role="alert">
            {props.error}
          </p>
        )}
        <form method="post" action="/dashboard/login">
          <label for="token">Admin token</label>
          <input id="token" name="token" type="password" autocomplete="off" required autofocus />
          <button type="submit">Log in</button>
        </form>
      </main>
    </Layout>
  );
}

function Summary({ data, csrf }: { data: DashboardData; csrf: string | undefined }) {
  const online = data.runners.filter((r) => r.online).length;
  const open = data.breakers.filter((b) => b.state !== 'CLOSED').length;
  return (
    <div class="summary">
      <span>
        Runners online <b data-testid="runners-online">{online}</b> / {data.runners.length}
      </span>
      <span>
        Breakers not closed <b>{open}</b>
      </span>
      <span>
        Queue depth <b data-testid="queue-depth">{data.queueDepth}</b>
      </span>
      <span>
        Intrusive scans <b data-testid="intrusive">{data.allowIntrusive ? 'allowed' : 'disabled'}</b>{' '}
        <ActionForm
          action="policy-intrusive"
          target="policy"
          value={data.allowIntrusive ? 'off' : 'on'}
          label={data.allowIntrusive ? 'Disable' : 'Allow'}
          confirm={
            data.allowIntrusive
              ? 'Disable intrusive scans (-A, vuln/brute scripts)?'
              : 'Allow intrusive scans (-A, vuln/brute scripts) for this pool?'
          }
          csrf={csrf}
          danger={!data.allowIntrusive}
        />
      </span>
    </div>
  );
}

function Breakers({ data, csrf }: { data: DashboardData; csrf: string | undefined }) {
  if (!data.breakers.length) return <p class="empty">No runners yet, so no breakers.</p>;
  return (
    <div class="cards">
      {data.breakers.map((b: BreakerRow) => (
        <article class="card" data-breaker={b.runner} data-state={b.state}>
          <h3>
            {b.runner} <span class={stateClass(b.state)}>{b.state.replace('_', ' ')}</span>
          </h3>
          <p>
            Failures {b.failures} of {b.threshold} · recovery {b.recoveryTimeoutSec} s
          </p>
          {b.halfOpenAt !== null && (
            <p>
              Half-opens in{' '}
              <span data-countdown={String(b.halfOpenAt)}>
                {Math.max(0, Math.ceil((b.halfOpenAt - data.now) / 1000))} s
              </span>
            </p>
          )}
          {b.lastError && <p class="muted">Last error: {b.lastError}</p>}
          {b.transitions.length > 0 && (
            <ul class="transitions">
              {b.transitions.map((t) => (
                <li>
                  {time(t.at)} {t.from} → {t.to}: {t.reason}
                </li>
              ))}
            </ul>
          )}
          <div class="actions">
            <ActionForm
              action="breaker-reset"
              target={b.runnerId}
              label="Reset"
              confirm={`Reset the breaker of ${b.runner} to CLOSED?`}
              csrf={csrf}
            />
            <ActionForm
              action="breaker-open"
              target={b.runnerId}
              label="Force open"
              confirm={`Force the breaker of ${b.runner} OPEN (no scans go to it)?`}
              csrf={csrf}
              danger
            />
            <ActionForm
              action="breaker-close"
              target={b.runnerId}
              label="Force close"
              confirm={`Force the breaker of ${b.runner} CLOSED?`}
              csrf={csrf}
            />
          </div>
        </article>
      ))}
    </div>
  );
}

function Runners({ data, csrf }: { data: DashboardData; csrf: string | undefined }) {
  if (!data.runners.length) return <p class="empty">No runners. Mint one with POST /v1/runners.</p>;
  return (
    <div class="scroll">
      <table>
        <thead>
          <tr>
            <th>Runner</th>
            <th>State</th>
            <th>Last seen</th>
            <th>Version</th>
            <th>nmap</th>
            <th>Privileged</th>
            <th>Fence</th>
            <th>Networks (granted)</th>
            <th>Running</th>
            <th></th>
          </tr>
        </thead>
        <tbody>
          {data.runners.map((r: RunnerRow) => (
            <tr data-runner={r.name}>
              <td>
                {r.name}
                {r.host ? <div class="muted">{r.host}</div> : ''}
              </td>
              <td>
                <span class={r.online ? 'state state-closed' : 'state state-offline'}>
                  {r.online ? 'online' : 'offline'}
                </span>
                {r.conflict ? (
                  <div
                    class="state state-open"
                    data-conflict
                    title={`${r.conflict.attempts} refused connection(s), last ${new Date(r.conflict.lastAt).toISOString()}`}
                  >
                    same runner token in use from two hosts: {r.conflict.liveHost ?? 'unnamed'} (live) and{' '}
                    {r.conflict.refusedHost ?? 'unnamed'} (refused)
                  </div>
                ) : (
                  ''
                )}
              </td>
              <td>{time(r.lastSeen)}</td>
              <td>
                {r.runnerVersion ?? ''}
                {isOutdated(r.runnerVersion) ? (
                  <div class="state state-half-open" data-outdated title="sudo scangate-runner update on its host">
                    outdated: {RUNNER_VERSION} available
                  </div>
                ) : (
                  ''
                )}
              </td>
              <td>{r.nmapVersion ?? ''}</td>
              <td>{r.privileged === null ? '' : r.privileged ? 'yes' : 'no'}</td>
              <td data-fence={r.fence === null ? 'unknown' : r.fence.enforced ? 'enforced' : 'unfenced'}>
                {r.fence === null ? (r.online ? 'no' : '') : r.fence.enforced ? 'yes' : 'no'}
                {r.fence ? <div class="muted">{r.fence.detail}</div> : ''}
              </td>
              <td>
                {r.networks.join(', ')}
                {r.grantedNetworks ? ` (${r.grantedNetworks.join(', ')})` : ' (policy networks)'}
              </td>
              <td>
                {r.running}
                {r.maxConcurrency !== null ? ` / ${r.maxConcurrency}` : ''}
              </td>
              <td>
                <ActionForm
                  action="runner-enroll"
                  target={r.id}
                  label="Enrollment code"
                  confirm={`Make a one-time enrollment code for runner ${r.name}? An unused earlier code stops working.`}
                  csrf={csrf}
                />{' '}
                <ActionForm
                  action="runner-revoke"
                  target={r.id}
                  label="Revoke"
                  confirm={`Revoke runner ${r.name}? Its link is cut at once and its token stops working.`}
                  csrf={csrf}
                  danger
                />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Scans({ data, csrf }: { data: DashboardData; csrf: string | undefined }) {
  if (!data.scans.length) return <p class="empty">No scans yet.</p>;
  return (
    <div class="scroll">
      <table>
        <thead>
          <tr>
            <th>Scan</th>
            <th>Status</th>
            <th>Targets</th>
            <th>By</th>
            <th>Started</th>
            <th>Duration</th>
            <th>Open ports</th>
            <th></th>
          </tr>
        </thead>
        <tbody>
          {data.scans.map((s: ScanRow) => (
            <tr data-scan={s.id}>
              <td>
                <a href={`/dashboard/scans/${s.id}`}>{s.id}</a>
              </td>
              <td>
                <span class={`status status-${s.status}`}>{s.status}</span>
                {s.percent !== null && isActive(s.status) ? ` ${s.percent.toFixed(0)}%` : ''}
              </td>
              <td>{s.targets.join(', ')}</td>
              <td>{s.by}</td>
              <td>{s.createdAt.slice(11, 19)}</td>
              <td>{seconds(s.durationMs)}</td>
              <td>{s.openPorts ?? ''}</td>
              <td>
                {isActive(s.status) && (
                  <ActionForm
                    action="scan-cancel"
                    target={s.id}
                    label="Cancel"
                    confirm={`Cancel scan ${s.id}?`}
                    csrf={csrf}
                    danger
                  />
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** Scans per minute over the last hour, stacked by outcome, as inline SVG. */
export function Chart({ buckets }: { buckets: MinuteBucket[] }) {
  const max = Math.max(1, ...buckets.map((b) => OUTCOMES.reduce((n, o) => n + b[o], 0)));
  const height = 100;
  const total = buckets.reduce((n, b) => n + OUTCOMES.reduce((m, o) => m + b[o], 0), 0);
  return (
    <figure>
      <svg
        viewBox={`0 0 600 ${height + 16}`}
        role="img"
        aria-label={`Scans per minute over the last hour: ${total} in all`}
        class="chart"
      >
        {buckets.map((b, i) => {
          let y = height;
          return (
            <g>
              <title>{`${new Date(b.minute * 60_000).toISOString().slice(11, 16)}: ${OUTCOMES.map((o) => `${b[o]} ${o}`).join(', ')}`}</title>
              {OUTCOMES.filter((o) => b[o] > 0).map((o) => {
                const h = (b[o] / max) * height;
                y -= h;
                return <rect x={String(i * 10 + 1)} y={String(y)} width="8" height={String(h)} class={`bar-${o}`} />;
              })}
            </g>
          );
        })}
        <line x1="0" y1={String(height)} x2="600" y2={String(height)} class="axis" />
        <text x="0" y={String(height + 13)} class="label">
          −60 min
        </text>
        <text x="600" y={String(height + 13)} class="label end">
          now
        </text>
        <text x="0" y="10" class="label">
          {String(max)}/min
        </text>
      </svg>
      <figcaption>
        {OUTCOMES.map((o) => (
          <span class="legend">
            <i class={`swatch bar-${o}`}></i> {o}
          </span>
        ))}
      </figcaption>
    </figure>
  );
}

/** The live parts of the page, by element id: the page renders them, the stream re-sends them. */
export function sections(data: DashboardData, csrf?: string): Record<string, Child> {
  return {
    summary: <Summary data={data} csrf={csrf} />,
    breakers: <Breakers data={data} csrf={csrf} />,
    runners: <Runners data={data} csrf={csrf} />,
    scans: <Scans data={data} csrf={csrf} />,
    changes: <ChangesFeed rows={data.changes} />,
    alerts: <AlertsSection overview={data.alerts} />,
    chart: <Chart buckets={data.perMinute} />,
  };
}

export async function renderSections(data: DashboardData): Promise<Record<string, string>> {
  const parts = sections(data);
  const out: Record<string, string> = {};
  for (const [id, node] of Object.entries(parts)) out[id] = await String(node as object);
  return out;
}

/** What an action came back with (the redirect's `notice` or `error`), announced to screen readers. */
export function Notices({ notice, error }: { notice?: string | undefined; error?: string | undefined }) {
  return (
    <>
      {notice && (
        <p class="notice" role="status">
          {notice}
        </p>
      )}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </>
  );
}

export function Header({ who, csrf }: { who: string; csrf: string }) {
  return (
    <header>
      <h1>
        <a href="/dashboard">scangate</a>
      </h1>
      <span class="muted" id="live" data-state="connecting">
        connecting…
      </span>
      <a href="/dashboard/inventory">Inventory</a>
      <a href="/dashboard/schedules">Schedules</a>
      <span class="who">{who}</span>
      <form method="post" action="/dashboard/logout" class="inline">
        <input type="hidden" name="csrf" value={csrf} />
        <button type="submit">Log out</button>
      </form>
    </header>
  );
}

/** The live sections in page order, with their headings (the summary's is for screen readers only). */
const SECTION_TITLES = [
  ['summary', 'Summary'],
  ['breakers', 'Circuit breakers'],
  ['runners', 'Runners'],
  ['scans', 'Recent scans'],
  ['changes', 'Changes'],
  ['alerts', 'Alerts'],
  ['chart', 'Scans per minute, last hour'],
] as const;

export function DashboardPage(props: {
  data: DashboardData;
  nonce: string;
  csrf: string;
  who: string;
  /** The pool's OAuth grants (grants-section.tsx), rendered with the page. */
  grants?: Child;
  notice?: string;
  error?: string;
}) {
  const parts = sections(props.data, props.csrf);
  return (
    <Layout title="scangate dashboard" nonce={props.nonce} csrf={props.csrf}>
      <Header who={props.who} csrf={props.csrf} />
      <main data-live="/dashboard/events">
        <Notices notice={props.notice} error={props.error} />
        {SECTION_TITLES.map(([id, title]) => (
          <section aria-labelledby={`h-${id}`}>
            <h2 id={`h-${id}`} class={id === 'summary' ? 'sr-only' : undefined}>
              {title}
            </h2>
            <div id={id}>{parts[id]}</div>
          </section>
        ))}
        {props.grants !== undefined && (
          <section aria-labelledby="h-oauth-apps">
            <h2 id="h-oauth-apps">OAuth apps</h2>
            <div id="oauth-apps">{props.grants}</div>
          </section>
        )}
        <section aria-labelledby="h-add-runner">
          <h2 id="h-add-runner">Add a runner</h2>
          <AddRunnerForm csrf={props.csrf} />
        </section>
      </main>
    </Layout>
  );
}
