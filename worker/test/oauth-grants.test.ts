import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { authorizeUrl, authorizeWith, CookieJar, mcpCall, pkce, postForm, register } from './helpers/oauth-client.ts';
import { ADMIN, api, BASE, json, runnersOnOwnNets } from './helpers/runner-client.ts';

/**
 * OAuth grants: every request with an OAuth token checks its grant and the token that approved it, so revoking
 * either stops the client on its very next call (not at refresh) while other clients and tokens keep working;
 * grants are listed and revoked per pool, and every approval, denial and revocation is audited.
 */
async function mint(pool: string, role: 'scan' | 'admin', name: string): Promise<{ id: string; token: string }> {
  const res = await api('/v1/tokens', { method: 'POST', token: ADMIN, json: { name, role, pool } });
  expect(res.status).toBe(201);
  return json(res);
}

async function listGrants(token: string): Promise<{ status: number; grants: Array<Record<string, any>> }> {
  const res = await api('/v1/oauth/grants', { token });
  return { status: res.status, grants: res.status === 200 ? (await json(res)).grants : [] };
}

async function audit(pool: string): Promise<Array<{ action: string; decision: string; detail: Record<string, any> }>> {
  return (await json(await api(`/v1/audit?pool=${pool}&action=oauth.*&limit=500`, { token: ADMIN }))).entries;
}

const toolsList = async (accessToken: string) => (await mcpCall(accessToken, 'tools/list')).status;

describe('OAuth grants', () => {
  it('revoking the approving API token stops its clients on the next call; other clients and tokens keep working', async () => {
    const approver = await mint('oauth-revoke', 'scan', 'approver-1');
    const bystander = await mint('oauth-revoke', 'scan', 'approver-2');
    const mine = await authorizeWith(approver.token, { clientName: 'Agent One' });
    const theirs = await authorizeWith(bystander.token, { clientName: 'Agent Two' });
    expect(await toolsList(mine.tokens.access_token)).toBe(200);
    expect(await toolsList(theirs.tokens.access_token)).toBe(200);

    expect((await api(`/v1/tokens/${approver.id}`, { method: 'DELETE', token: ADMIN })).status).toBe(200);
    const refused = await mcpCall(mine.tokens.access_token, 'tools/list');
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toContain('error="invalid_token"');

    expect(await toolsList(theirs.tokens.access_token)).toBe(200);
    expect(await toolsList(bystander.token)).toBe(200);
    const [grant] = (await listGrants(ADMIN)).grants.filter((g) => g.clientName === 'Agent One');
    expect(grant).toMatchObject({ status: 'approver_revoked', tokenId: approver.id });
  });

  it('DELETE /v1/oauth/grants/:id stops the client at once, refresh included; it is listed with who approved it', async () => {
    const admin = await mint('oauth-delete', 'admin', 'pool admin');
    const approver = await mint('oauth-delete', 'scan', 'the approver');
    const { clientId, tokens } = await authorizeWith(approver.token, { clientName: 'Deletable Agent' });
    const other = await authorizeWith(approver.token, { clientName: 'Kept Agent' });
    expect(await toolsList(tokens.access_token)).toBe(200);

    const { grants } = await listGrants(admin.token);
    const grant = grants.find((g) => g.clientName === 'Deletable Agent')!;
    expect(grant).toMatchObject({
      clientId,
      tokenId: approver.id,
      tokenName: 'the approver',
      scopes: ['scan'],
      pool: 'oauth-delete',
      status: 'active',
      redirectHost: '127.0.0.1:38123',
      createdAt: expect.any(String),
      lastUsedAt: expect.any(String), // the tools/list above
    });

    const res = await api(`/v1/oauth/grants/${grant.id}`, { method: 'DELETE', token: admin.token });
    expect(res.status).toBe(200);
    expect((await json(res)).revoked).toMatchObject({ id: grant.id, status: 'revoked' });
    expect(await toolsList(tokens.access_token)).toBe(401);
    const refresh = await SELF.fetch(`${BASE}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: tokens.refresh_token,
        client_id: clientId,
      }).toString(),
    });
    expect(refresh.status).toBe(400);
    // The same approver's other client is unaffected.
    expect(await toolsList(other.tokens.access_token)).toBe(200);

    const events = await audit('oauth-delete');
    expect(events.filter((e) => e.action === 'oauth.grant.approve')).toHaveLength(2);
    expect(events.find((e) => e.action === 'oauth.grant.revoke')).toMatchObject({
      decision: 'accepted',
      detail: { grantId: grant.id, clientId },
    });
  });

  it('a pool admin cannot list or revoke another pool’s grants, and that grant keeps working', async () => {
    const adminA = await mint('oauth-pool-a', 'admin', 'admin A');
    const scanB = await mint('oauth-pool-b', 'scan', 'scanner B');
    const { tokens } = await authorizeWith(scanB.token, { clientName: 'Agent of B' });
    const grantB = (await listGrants(ADMIN)).grants.find((g) => g.clientName === 'Agent of B')!;
    expect(grantB.pool).toBe('oauth-pool-b');

    const seenByA = await listGrants(adminA.token);
    expect(seenByA.status).toBe(200);
    expect(seenByA.grants.every((g) => g.pool === 'oauth-pool-a')).toBe(true);
    const del = await api(`/v1/oauth/grants/${grantB.id}`, { method: 'DELETE', token: adminA.token });
    expect(del.status).toBe(404);
    expect((await json(del)).error).toMatchObject({ type: 'not_found', recoverySuggestion: expect.any(String) });
    expect(await toolsList(tokens.access_token)).toBe(200);

    // Scan tokens may not list grants at all.
    expect((await listGrants(scanB.token)).status).toBe(403);
  });

  it("an OAuth client acts in its approver's pool: an admin client of one pool does not see another pool's scans", async () => {
    const newRunner = runnersOnOwnNets('oauth-runner', 120);
    const { net } = await newRunner();
    const started = await api('/v1/scans', {
      method: 'POST',
      token: ADMIN,
      json: { target: `127.${net}.0.1`, args: '-sT -p 22' },
    });
    expect(started.status).toBe(202);
    const scanId = (await json(started)).scan.id as string;

    const home = await authorizeWith((await mint('default', 'admin', 'default admin')).token, { scope: 'admin' });
    const away = await authorizeWith((await mint('oauth-away', 'admin', 'away admin')).token, { scope: 'admin' });
    const getScan = async (accessToken: string) => {
      const res = await mcpCall(accessToken, 'tools/call', { name: 'get_scan', arguments: { scanId } });
      expect(res.status).toBe(200);
      const text = await res.text();
      return JSON.parse(text.startsWith('event:') || text.startsWith('data:') ? text.split('data: ')[1]! : text);
    };
    expect((await getScan(home.tokens.access_token)).result.isError).toBeFalsy();
    const refused = await getScan(away.tokens.access_token);
    expect(refused.result.isError).toBe(true);
    expect(JSON.stringify(refused.result)).toMatch(/not_found/);
  });

  it('audits a denial, and an admin request refused to a scan token', async () => {
    const approver = await mint('oauth-audit', 'scan', 'auditee');
    for (const [scope, decision] of [
      ['scan', 'deny'],
      ['admin', 'approve'],
    ] as const) {
      const clientId = await register('Audited Agent');
      const { challenge } = await pkce();
      const url = authorizeUrl(clientId, challenge, scope);
      const jar = new CookieJar();
      const page = await postForm(url, jar, { step: 'signin', token: approver.token });
      const html = await page.text();
      const handle = /name="handle" value="([^"]*)"/.exec(html)![1]!;
      const csrf = /name="csrf" value="([^"]*)"/.exec(html)![1]!;
      const res = await postForm(url, jar, { handle, csrf, decision });
      expect(new URL(res.headers.get('location')!).searchParams.get('error')).toBe('access_denied');
    }
    const events = await audit('oauth-audit');
    expect(events.map((e) => e.action).sort()).toEqual(['oauth.consent.deny', 'oauth.consent.refuse']);
    expect(events.every((e) => e.decision === 'refused' && e.detail.tokenId === approver.id)).toBe(true);
    expect((await listGrants(ADMIN)).grants.some((g) => g.tokenId === approver.id)).toBe(false);
    // The consent page's sign-ins are logins like the dashboard's, told apart by their surface.
    const logins = (await json(await api('/v1/audit?pool=oauth-audit&action=login.*', { token: ADMIN }))).entries;
    expect(logins).toContainEqual(
      expect.objectContaining({
        action: 'login.success',
        detail: expect.objectContaining({ surface: 'oauth-consent' }),
      }),
    );
  });

  it('an admin with a dashboard session approves without a token, and the grant names that admin', async () => {
    const admin = await mint('oauth-dash', 'admin', 'dashboard admin');
    const jar = new CookieJar();
    const login = await postForm(`${BASE}/dashboard/login`, jar, { token: admin.token });
    expect(login.status).toBe(303);
    const clientId = await register('Dashboard-approved Agent');
    const { challenge } = await pkce();
    const url = authorizeUrl(clientId, challenge, 'admin');
    const page = await postForm(url, jar, { step: 'signin', use: 'dashboard' });
    const html = await page.text();
    expect(html).toMatch(/data-testid="who">dashboard admin</);
    const handle = /name="handle" value="([^"]*)"/.exec(html)![1]!;
    const csrf = /name="csrf" value="([^"]*)"/.exec(html)![1]!;
    const res = await postForm(url, jar, { handle, csrf, decision: 'approve' });
    expect(new URL(res.headers.get('location')!).searchParams.get('code')).toEqual(expect.any(String));
    const grant = (await listGrants(ADMIN)).grants.find((g) => g.clientId === clientId)!;
    expect(grant).toMatchObject({ tokenId: admin.id, scopes: ['scan', 'admin'], pool: 'oauth-dash' });

    // A consent sign-in (a scan token's) never opens the dashboard.
    const scanJar = new CookieJar();
    await postForm(url, scanJar, { step: 'signin', token: (await mint('oauth-dash', 'scan', 'scanner')).token });
    const dash = await SELF.fetch(`${BASE}/dashboard`, { headers: { cookie: scanJar.header() } });
    expect(await dash.text()).toContain('Log in with an admin token');
  });

  it('the dashboard lists the pool’s grants (client names escaped) and revokes one with its CSRF token', async () => {
    const admin = await mint('oauth-board', 'admin', 'board admin');
    const hostile = '<img src=x onerror="alert(1)">';
    const { tokens } = await authorizeWith((await mint('oauth-board', 'scan', 'board scanner')).token, {
      clientName: hostile,
    });
    const jar = new CookieJar();
    await postForm(`${BASE}/dashboard/login`, jar, { token: admin.token });
    const page = await (await SELF.fetch(`${BASE}/dashboard`, { headers: { cookie: jar.header() } })).text();
    expect(page).toContain('OAuth apps');
    expect(page).not.toContain(hostile);
    expect(page).toContain('&lt;img src=x onerror=&quot;alert(1)&quot;&gt;');
    expect(page).toContain('board scanner');
    const grantId = /data-grant="(ogr_[^"]+)"/.exec(page)![1]!;
    const csrf = /name="csrf-token" content="([^"]+)"/.exec(page)![1]!;

    const forged = await postForm(`${BASE}/dashboard/actions`, jar, { action: 'oauth-grant-revoke', target: grantId });
    expect(forged.status).toBe(403);
    expect(await toolsList(tokens.access_token)).toBe(200);

    const res = await postForm(`${BASE}/dashboard/actions`, jar, {
      action: 'oauth-grant-revoke',
      target: grantId,
      csrf,
    });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toMatch(/notice=App%20access%20revoked/);
    expect(await toolsList(tokens.access_token)).toBe(401);
    expect((await audit('oauth-board')).find((e) => e.action === 'oauth.grant.revoke')).toMatchObject({
      detail: { grantId },
    });
  });
});
