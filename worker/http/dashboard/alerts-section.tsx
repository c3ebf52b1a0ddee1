/** @jsxImportSource hono/jsx */
import type { AlertsOverview } from '../../objects/coordinator/alerts.ts';
import type { AlertDelivery, AlertRule } from '../../storage/alerts.store.ts';

/**
 * The dashboard's "Alerts" section: the pool's rules (events, filters, where they go, never the secret: only its
 * prefix), the latest deliveries and the ones given up. A live section of the front page (views.tsx `sections`):
 * the page's stream re-sends it with every change and every 15 s, so new deliveries show without a reload. Rule names are an admin's words and delivery titles carry scanned text (hostnames, versions):
 * JSX escapes them like everything else.
 */
const when = (ms: number | null) => (ms === null ? '—' : new Date(ms).toISOString().slice(0, 19).replace('T', ' '));

function filtersOf(rule: AlertRule): string {
  const f = rule.filters;
  const parts = [
    f.scheduleId && `schedule ${f.scheduleId}`,
    f.cidr && `in ${f.cidr.join(', ')}`,
    f.ports && `ports ${f.ports.join(', ')}`,
    f.services && `services ${f.services.join(', ')}`,
  ].filter(Boolean);
  return parts.length ? parts.join('; ') : 'all';
}

function destinationOf(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname.length > 1 ? '/…' : ''}`;
  } catch {
    return url.slice(0, 40);
  }
}

function outcome(d: AlertDelivery): string {
  const code = d.responseCode === null ? '' : ` (HTTP ${d.responseCode})`;
  if (d.status === 'delivered') return `delivered${code}`;
  if (d.status === 'failed') return `given up${code}${d.lastError ? `: ${d.lastError}` : ''}`;
  return d.attempts === 0
    ? 'queued'
    : `retrying at ${when(d.nextAttemptAt)}${code}${d.lastError ? `: ${d.lastError}` : ''}`;
}

function Deliveries({ list, rules, empty }: { list: AlertDelivery[]; rules: AlertRule[]; empty: string }) {
  if (list.length === 0) return <p class="muted">{empty}</p>;
  const names = new Map(rules.map((r) => [r.id, r.name]));
  return (
    <table>
      <thead>
        <tr>
          <th>Created (UTC)</th>
          <th>Rule</th>
          <th>Event</th>
          <th>Attempts</th>
          <th>Outcome</th>
        </tr>
      </thead>
      <tbody>
        {list.map((d) => (
          <tr data-delivery={String(d.id)} data-status={d.status}>
            <td>{when(d.createdAt)}</td>
            <td>{names.get(d.ruleId) ?? d.ruleId}</td>
            <td title={d.eventType}>{d.title}</td>
            <td>{d.attempts}</td>
            <td>{outcome(d)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function AlertsSection({ overview }: { overview: AlertsOverview }) {
  const { rules, recent, failures } = overview;
  return (
    <div>
      {rules.length === 0 ? (
        <p class="muted">No alert rules in this pool. Create one with POST /v1/alerts (README, Alerts).</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>Rule</th>
              <th>Events</th>
              <th>Filters</th>
              <th>Sends to</th>
              <th>Format</th>
              <th>Secret</th>
              <th>Status</th>
            </tr>
          </thead>
          <tbody>
            {rules.map((r) => (
              <tr data-alert={r.id}>
                <td>{r.name}</td>
                <td>{r.events.join(', ')}</td>
                <td>{filtersOf(r)}</td>
                <td>{destinationOf(r.url)}</td>
                <td>{r.format}</td>
                <td>
                  <code>{r.secretPrefix}…</code>
                </td>
                <td>{r.enabled ? 'on' : 'off'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h3>Recent deliveries</h3>
      <Deliveries list={recent} rules={rules} empty="Nothing delivered yet." />
      <h3>Failures</h3>
      <Deliveries list={failures} rules={rules} empty="No delivery was given up." />
    </div>
  );
}
