/** @jsxImportSource hono/jsx */
import type { ChangeRow } from '../../objects/coordinator/dashboard-data.ts';

/** The front page's changes feed: the latest scans that found something their previous scan did not. */
export function ChangesFeed({ rows }: { rows: ChangeRow[] }) {
  if (!rows.length)
    return (
      <p class="empty">
        No changes yet: a scan shows here when it finds something its previous scan of the same targets did not.
      </p>
    );
  return (
    <div class="scroll">
      <table>
        <thead>
          <tr>
            <th>Finished</th>
            <th>Scan</th>
            <th>Targets</th>
            <th>By</th>
            <th>What changed</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr data-change={r.id}>
              <td>{r.finishedAt?.slice(0, 19).replace('T', ' ') ?? ''}</td>
              <td>
                <a href={`/dashboard/scans/${r.id}#changes`}>{r.id}</a>
              </td>
              <td>{r.targets.join(', ')}</td>
              <td>{r.by}</td>
              <td>{r.summary}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
