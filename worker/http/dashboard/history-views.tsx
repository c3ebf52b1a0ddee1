/** @jsxImportSource hono/jsx */
/**
 * The dashboard's history views: the diff on a scan's page and the inventory page (the front page's changes
 * feed is changes-feed.tsx). Pure hono/jsx: every banner, product, version and script output is text that JSX escapes.
 */
import type { ScanDiffView } from '../../objects/coordinator/history.ts';
import type { InventoryService } from '../../storage/inventory.store.ts';
import { Header, Layout, Notices } from './views.tsx';

const facts = (s: { name: string | null; product: string | null; version: string | null }) =>
  [s.product ?? s.name ?? '?', s.version].filter(Boolean).join(' ');

/** The diff of a finished scan with its previous scan (or why there is none), one row per change. */
export function DiffView({ view }: { view: ScanDiffView | null }) {
  if (!view) return <p class="empty">Shown when the scan has finished.</p>;
  const { diff, base } = view;
  if (!diff || !base) return <p class="empty">{view.summary}</p>;
  const where = (c: { host: string; port?: number; protocol?: string }) =>
    c.port === undefined ? c.host : `${c.host} ${c.port}/${c.protocol}`;
  const rows: Array<[string, string, string]> = [
    ...diff.hosts.up.map((h): [string, string, string] => [
      'new host',
      h.host,
      `open: ${h.openPorts.join(', ') || 'none'}`,
    ]),
    ...diff.hosts.down.map((h): [string, string, string] => [
      'host gone',
      h.host,
      `was open: ${h.openPorts.join(', ') || 'none'}`,
    ]),
    ...diff.ports.opened.map((p): [string, string, string] => ['opened', where(p), `${p.from} → open`]),
    ...diff.ports.closed.map((p): [string, string, string] => ['closed', where(p), `open → ${p.to}`]),
    ...diff.services.map((s): [string, string, string] => ['service', where(s), `${facts(s.from)} → ${facts(s.to)}`]),
    ...diff.certificates.map((c): [string, string, string] => [
      'certificate',
      where(c),
      `${c.fields.join(', ')} changed; now ${c.to.subject ?? '?'}, expires ${c.to.notAfter ?? '?'}`,
    ]),
    ...diff.scripts.map((s): [string, string, string] => ['script', where(s), `${s.id} output changed`]),
    ...diff.ports.changed.map((p): [string, string, string] => ['state', where(p), `${p.from} → ${p.to}`]),
  ];
  const notChecked = [...diff.hosts.notChecked.map((h) => h.host), ...diff.ports.notChecked.map(where)];
  return (
    <>
      <p data-testid="diff-summary">
        {view.summary} Compared with <a href={`/dashboard/scans/${base.id}`}>{base.id}</a>.
      </p>
      {rows.length > 0 && (
        <div class="scroll">
          <table>
            <thead>
              <tr>
                <th>Change</th>
                <th>Where</th>
                <th>What</th>
              </tr>
            </thead>
            <tbody>
              {rows.map(([kind, at, what]) => (
                <tr>
                  <td>{kind}</td>
                  <td>{at}</td>
                  <td>{what}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {notChecked.length > 0 && (
        <p class="muted">Not checked this time (this scan did not probe them): {notChecked.join(', ')}</p>
      )}
      {diff.ports.udpFlapping.length > 0 && (
        <p class="muted">
          UDP open|filtered flapping (no answer either way): {diff.ports.udpFlapping.map(where).join(', ')}
        </p>
      )}
    </>
  );
}

export interface InventoryFilter {
  cidr?: string;
  service?: string;
  product?: string;
  port?: string;
  versionBelow?: string;
}

export function InventoryPage(props: {
  nonce: string;
  csrf: string;
  who: string;
  filter: InventoryFilter;
  services: InventoryService[];
  nextCursor: string | null;
  error?: string;
}) {
  const f = props.filter;
  const field = (name: keyof InventoryFilter, label: string, placeholder: string) => (
    <label>
      {label} <input name={name} value={f[name] ?? ''} placeholder={placeholder} />
    </label>
  );
  return (
    <Layout title="scangate: inventory" nonce={props.nonce} csrf={props.csrf}>
      <Header who={props.who} csrf={props.csrf} />
      <main>
        <p>
          <a href="/dashboard">← Dashboard</a>
        </p>
        <h2>Inventory</h2>
        <p class="muted">
          Services scans in this pool have seen open; state is what the last scan that probed each one saw.
        </p>
        <form method="get" action="/dashboard/inventory" class="inline">
          {field('cidr', 'Network', '10.0.0.0/24')}
          {field('port', 'Port', '22')}
          {field('service', 'Service', 'ssh')}
          {field('product', 'Product', 'OpenSSH')}
          {field('versionBelow', 'Version below', '8.0')}
          <button type="submit">Find</button>
        </form>
        <Notices error={props.error} />
        {props.services.length === 0 ? (
          <p class="empty">Nothing found.</p>
        ) : (
          <div class="scroll">
            <table>
              <thead>
                <tr>
                  <th>Host</th>
                  <th>Port</th>
                  <th>State</th>
                  <th>Service</th>
                  <th>First seen</th>
                  <th>Last seen</th>
                  <th>Last scan</th>
                </tr>
              </thead>
              <tbody>
                {props.services.map((s) => (
                  <tr>
                    <td>{s.address}</td>
                    <td>{`${s.port}/${s.protocol}`}</td>
                    <td>{s.state}</td>
                    <td>{[s.service, s.product, s.version].filter(Boolean).join(' ')}</td>
                    <td>{s.firstSeen.slice(0, 16).replace('T', ' ')}</td>
                    <td>{s.lastSeen.slice(0, 16).replace('T', ' ')}</td>
                    <td>
                      <a href={`/dashboard/scans/${s.lastScan}`}>{s.lastScan}</a>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        {props.nextCursor && (
          <p>
            <a
              href={`/dashboard/inventory?${new URLSearchParams({ ...(f as Record<string, string>), cursor: props.nextCursor })}`}
            >
              Next page →
            </a>
          </p>
        )}
      </main>
    </Layout>
  );
}
