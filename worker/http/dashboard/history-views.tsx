/** @jsxImportSource hono/jsx */
/**
 * The dashboard's history views: the diff on a scan's page and the inventory page (the front page's changes
 * feed is changes-feed.tsx). Pure hono/jsx: every banner, product, version and script output is text that JSX escapes.
 */
import { diffRows, flappingPlaces, notCheckedPlaces } from '../../domain/diff/index.ts';
import type { ScanDiffView } from '../../objects/coordinator/history.ts';
import type { InventoryService } from '../../storage/inventory.store.ts';
import { Header, Layout, Notices } from './views.tsx';

/** The diff of a finished scan with its previous scan (or why there is none), one row per change. */
export function DiffView({ view }: { view: ScanDiffView | null }) {
  if (!view) return <p class="empty">Shown when the scan has finished.</p>;
  const { diff, base } = view;
  if (!diff || !base) return <p class="empty">{view.summary}</p>;
  const rows = diffRows(diff);
  const notChecked = notCheckedPlaces(diff);
  const flapping = flappingPlaces(diff);
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
              {rows.map((r) => (
                <tr>
                  <td>{r.kind}</td>
                  <td>{r.where}</td>
                  <td>{r.what}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {notChecked.length > 0 && (
        <p class="muted">Not checked this time (this scan did not probe them): {notChecked.join(', ')}</p>
      )}
      {flapping.length > 0 && (
        <p class="muted">UDP open|filtered flapping (no answer either way): {flapping.join(', ')}</p>
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
