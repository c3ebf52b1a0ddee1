/** @jsxImportSource hono/jsx */
import type { GrantView } from '../oauth/grants.api.ts';
import { ActionForm } from './views.tsx';

/**
 * The dashboard's "OAuth apps" section: the grants of the admin's pool (client, who approved it, scopes, created,
 * last used) with Revoke. Rendered with the page, not live: grants change when a person approves or revokes one.
 * Client names are the client's own words (DCR or a CIMD document): JSX escapes them like everything else.
 */
const when = (iso: string | null) => (iso ? iso.slice(0, 16).replace('T', ' ') : 'never');

export function GrantsSection({ grants, csrf }: { grants: GrantView[]; csrf: string }) {
  if (grants.length === 0) return <p class="muted">No app has been authorized with OAuth in this pool.</p>;
  return (
    <table>
      <thead>
        <tr>
          <th>App</th>
          <th>Access goes to</th>
          <th>Approved by</th>
          <th>Scopes</th>
          <th>Created (UTC)</th>
          <th>Last used (UTC)</th>
          <th>Status</th>
          <th></th>
        </tr>
      </thead>
      <tbody>
        {grants.map((g) => (
          <tr data-grant={g.id}>
            <td title={g.clientId}>{g.clientName}</td>
            <td>{g.redirectHost}</td>
            <td>{g.tokenName}</td>
            <td>{g.scopes.join(' ')}</td>
            <td>{when(g.createdAt)}</td>
            <td>{when(g.lastUsedAt)}</td>
            <td>{g.status.replace('_', ' ')}</td>
            <td>
              {g.status === 'active' && (
                <ActionForm
                  action="oauth-grant-revoke"
                  target={g.id}
                  label="Revoke"
                  confirm={`Revoke ${g.clientName.slice(0, 80)}? Its next request fails.`}
                  csrf={csrf}
                  danger
                />
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
