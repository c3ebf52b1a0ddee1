/** @jsxImportSource hono/jsx */
import type { Child } from 'hono/jsx';
import { openPorts } from '../../../shared/nmap-xml/index.ts';
import { isActive, type Scan } from '../../../shared/scan/index.ts';
import type { ScanDiffView } from '../../objects/coordinator/history.ts';
import { DiffView } from './history-views.tsx';
import { ActionForm, Header, Layout, seconds } from './views.tsx';

/**
 * One scan's page: its facts, progress while it runs, open ports and raw output, live like the front page (the
 * sections below are re-sent by its stream, scan-live.ts). Everything from the runner or the scanned network is
 * text that JSX escapes.
 */
type ScanWithOutput = Scan & { output: string };

function ScanFacts({ scan, csrf }: { scan: ScanWithOutput; csrf: string | undefined }) {
  return (
    <>
      <dl class="facts">
        <dt>Targets</dt>
        <dd>{scan.targets.join(', ')}</dd>
        <dt>nmap</dt>
        <dd>
          <code>{scan.argv.join(' ')}</code>
        </dd>
        <dt>Requested by</dt>
        <dd>{scan.requestedBy.name}</dd>
        <dt>Runner</dt>
        <dd>{scan.runnerId ?? ''}</dd>
        <dt>Created</dt>
        <dd>{scan.createdAt}</dd>
        {isActive(scan.status) && (
          <>
            <dt>Progress</dt>
            <dd data-testid="scan-progress">
              {scan.progress
                ? `${scan.progress.percent.toFixed(0)}%${scan.progress.phase ? ` (${scan.progress.phase})` : ''}${scan.progress.etaSec !== undefined ? `, ~${scan.progress.etaSec} s left` : ''}`
                : scan.status === 'queued'
                  ? 'waiting for a runner'
                  : 'started'}
            </dd>
          </>
        )}
        <dt>Finished</dt>
        <dd>{scan.finishedAt ?? ''}</dd>
        <dt>Duration</dt>
        <dd>{seconds(scan.durationMs)}</dd>
        <dt>Exit</dt>
        <dd>
          {scan.exitCode === null ? '' : String(scan.exitCode)}
          {scan.timedOut ? ' (timed out)' : ''}
          {scan.truncated.stdout || scan.truncated.stderr ? ' (output truncated)' : ''}
        </dd>
      </dl>
      {scan.warnings.map((w) => (
        <p class="muted">Warning: {w}</p>
      ))}
      {scan.error && (
        <p class="error" role="alert">
          {scan.error.type}: {scan.error.message}. {scan.error.recoverySuggestion}
        </p>
      )}
      {isActive(scan.status) && (
        <ActionForm
          action="scan-cancel"
          target={scan.id}
          label="Cancel scan"
          confirm={`Cancel scan ${scan.id}?`}
          csrf={csrf}
          danger
        />
      )}
    </>
  );
}

function ScanPorts({ scan }: { scan: ScanWithOutput }) {
  const ports = scan.report ? openPorts(scan.report) : [];
  if (!ports.length) return <p class="empty">{scan.report ? 'No open ports.' : 'No report yet.'}</p>;
  return (
    <div class="scroll">
      <table>
        <thead>
          <tr>
            <th>Host</th>
            <th>Port</th>
            <th>Service</th>
            <th>Version</th>
          </tr>
        </thead>
        <tbody>
          {ports.map(({ host, port }) => (
            <tr>
              <td>{host}</td>
              <td>{`${port.port}/${port.protocol}`}</td>
              <td>{port.service?.name ?? ''}</td>
              <td>{[port.service?.product, port.service?.version].filter(Boolean).join(' ')}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/**
 * The live parts of a scan's page, by element id: the page renders them, its stream re-sends them as the scan
 * moves (scan-live.ts). Rendered without the CSRF token, which the page's script stamps on submit.
 */
export function scanSections(
  scan: ScanWithOutput,
  csrf?: string,
  diff: ScanDiffView | null = null,
): Record<string, Child> {
  return {
    'scan-changes': <DiffView view={diff} />,
    'scan-status': <span class={`status status-${scan.status}`}>{scan.status}</span>,
    'scan-facts': <ScanFacts scan={scan} csrf={csrf} />,
    'scan-ports': <ScanPorts scan={scan} />,
    'scan-output': (
      <pre class="output" tabindex={0}>
        {scan.output || '(none yet)'}
      </pre>
    ),
  };
}

export async function renderScanSections(
  scan: ScanWithOutput,
  diff: ScanDiffView | null = null,
): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [id, node] of Object.entries(scanSections(scan, undefined, diff))) out[id] = await String(node as object);
  return out;
}

export function ScanPage(props: {
  scan: ScanWithOutput;
  nonce: string;
  csrf: string;
  who: string;
  diff?: ScanDiffView | null;
}) {
  const { scan } = props;
  const parts = scanSections(scan, props.csrf, props.diff ?? null);
  return (
    <Layout title={`scangate: ${scan.id}`} nonce={props.nonce} csrf={props.csrf}>
      <Header who={props.who} csrf={props.csrf} />
      <main data-live={`/dashboard/scans/${scan.id}/events`}>
        <p>
          <a href="/dashboard">← Dashboard</a>
        </p>
        <h2>
          Scan {scan.id} <span id="scan-status">{parts['scan-status']}</span>
        </h2>
        <div id="scan-facts">{parts['scan-facts']}</div>
        <h3>Open ports</h3>
        <div id="scan-ports">{parts['scan-ports']}</div>
        <h3 id="changes">Changes since the previous scan</h3>
        <div id="scan-changes">{parts['scan-changes']}</div>
        <h3>Output</h3>
        <div id="scan-output">{parts['scan-output']}</div>
      </main>
    </Layout>
  );
}
