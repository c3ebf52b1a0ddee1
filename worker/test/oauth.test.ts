import { SELF } from 'cloudflare:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CfWorkerJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/cfworker';
import { describe, expect, it, onTestFinished } from 'vitest';
import {
  authorizeUrl,
  authorizeWith,
  exchangeCode,
  mcpCall,
  pkce,
  postForm,
  register,
  RESOURCE,
  signIn,
} from './helpers/oauth-client.ts';
import { ADMIN, BASE, json, mintToken } from './helpers/runner-client.ts';

/**
 * OAuth 2.1 on /mcp, end to end inside workerd: discovery, DCR, the consent page, the token endpoint, and /mcp with
 * the token through the official SDK client. Attacks on the flow itself are here; grants, revocation and pools are
 * in oauth-grants.test.ts.
 */
async function sdkClient(token: string): Promise<Client> {
  const transport = new StreamableHTTPClientTransport(new URL(RESOURCE), {
    fetch: (url, init) => SELF.fetch(url, init),
    requestInit: { headers: { authorization: `Bearer ${token}` } },
  });
  const client = new Client(
    { name: 'oauth-test', version: '1.0.0' },
    { jsonSchemaValidator: new CfWorkerJsonSchemaValidator() },
  );
  await client.connect(transport);
  onTestFinished(() => client.close());
  return client;
}

const mcpStatus = async (token: string) => (await mcpCall(token, 'tools/list')).status;

describe('OAuth discovery', () => {
  it('answers /mcp without a token with 401 naming the RFC 9728 metadata, which names the RFC 8414 issuer', async () => {
    const res = await SELF.fetch(RESOURCE, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(res.status).toBe(401);
    const challenge = res.headers.get('www-authenticate')!;
    expect(challenge).toMatch(/^Bearer /);
    expect(challenge).toContain(`resource_metadata="${BASE}/.well-known/oauth-protected-resource/mcp"`);
    expect(challenge).toContain('scope="scan"');
    // The body keeps the error taxonomy.
    expect(await res.json()).toMatchObject({ error: { type: 'unauthorized', recoverySuggestion: expect.any(String) } });

    const prm = await json(await SELF.fetch(`${BASE}/.well-known/oauth-protected-resource/mcp`));
    expect(prm).toMatchObject({
      resource: RESOURCE,
      authorization_servers: [BASE],
      scopes_supported: ['scan'],
      bearer_methods_supported: ['header'],
    });

    const as = await json(await SELF.fetch(`${BASE}/.well-known/oauth-authorization-server`));
    expect(as).toMatchObject({
      issuer: BASE,
      authorization_endpoint: `${BASE}/authorize`,
      token_endpoint: `${BASE}/oauth/token`,
      registration_endpoint: `${BASE}/oauth/register`,
      revocation_endpoint: `${BASE}/oauth/token`,
      scopes_supported: ['scan', 'admin'],
      response_types_supported: ['code'],
      code_challenge_methods_supported: ['S256'],
      protected_resources: [RESOURCE],
      authorization_response_iss_parameter_supported: true,
      client_id_metadata_document_supported: true,
    });
    expect(as.grant_types_supported).toEqual(expect.arrayContaining(['authorization_code', 'refresh_token']));
  });

  it('registers a client dynamically (RFC 7591)', async () => {
    const res = await SELF.fetch(`${BASE}/oauth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        client_name: 'DCR probe',
        redirect_uris: ['http://127.0.0.1:1/cb'],
        token_endpoint_auth_method: 'none',
      }),
    });
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ client_id: expect.any(String), redirect_uris: ['http://127.0.0.1:1/cb'] });
  });
});

describe('authorization code + PKCE through the consent page', () => {
  it('shows the client, its redirect host, the scopes and the pool; Allow gives a code, the code a token for /mcp', async () => {
    const scanToken = await mintToken('scan', 'consenting person');
    const clientId = await register('Agent <b>"x"</b>');
    const { verifier, challenge } = await pkce();
    const url = authorizeUrl(clientId, challenge, 'scan', 'state-42');

    // Not signed in: the sign-in step, already naming the client (escaped) and where access goes.
    const first = await SELF.fetch(url);
    expect(first.status).toBe(200);
    const firstHtml = await first.text();
    expect(firstHtml).toContain('Agent &lt;b&gt;&quot;x&quot;&lt;/b&gt;');
    expect(firstHtml).not.toContain('<b>"x"</b>');
    expect(firstHtml).toContain('127.0.0.1');
    expect(first.headers.get('content-security-policy')).toMatch(/frame-ancestors 'none'/);

    const page = await signIn(url, scanToken);
    expect(page.status).toBe(200);
    expect(page.html).toMatch(/data-testid="pool">default</);
    expect(page.html).toMatch(/data-testid="who">consenting person</);
    expect(page.html).toMatch(/data-testid="scopes-asked">scan</);
    expect(page.html).toContain('Allow');
    // Browsers hold a form's redirect to form-action: the decision page lets its forms end at the app, nowhere else.
    expect(page.csp).toMatch(/form-action 'self' http:\/\/127\.0\.0\.1:38123;/);

    const approved = await postForm(url, page.jar, { handle: page.handle!, csrf: page.csrf!, decision: 'approve' });
    expect(approved.status).toBe(302);
    // The consent sign-in ends with the decision: the next app to ask in this browser gets the sign-in step again.
    expect([...page.jar.cookies.keys()].some((name) => name.includes('sg_consent'))).toBe(false);
    const again = await SELF.fetch(authorizeUrl(clientId, challenge, 'scan', 'state-43'), {
      headers: { cookie: page.jar.header() },
    });
    expect(await again.text()).toContain('Your scangate token');
    const back = new URL(approved.headers.get('location')!);
    expect(`${back.origin}${back.pathname}`).toBe('http://127.0.0.1:38123/callback');
    expect(back.searchParams.get('state')).toBe('state-42');
    expect(back.searchParams.get('iss')).toBe(BASE);

    const res = await exchangeCode(clientId, back.searchParams.get('code')!, verifier);
    expect(res.status).toBe(200);
    const tokens = await json(res);
    expect(tokens).toMatchObject({ token_type: 'bearer', scope: 'scan', resource: RESOURCE });
    expect(tokens.refresh_token).toEqual(expect.any(String));

    const client = await sdkClient(tokens.access_token);
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toContain('validate_scan');
    const result = await client.callTool({
      name: 'validate_scan',
      arguments: { target: '10.0.0.5', template: 'quick' },
    });
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({ argv: expect.arrayContaining(['--', '10.0.0.5']) });
  });

  it('refreshes: the new access token works, and the token is bound to the /mcp resource', async () => {
    const { clientId, tokens } = await authorizeWith(await mintToken('scan'));
    const res = await SELF.fetch(`${BASE}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: tokens.refresh_token,
        client_id: clientId,
      }).toString(),
    });
    expect(res.status).toBe(200);
    const refreshed = await json(res);
    expect(refreshed.access_token).not.toBe(tokens.access_token);
    expect(refreshed.resource).toBe(RESOURCE);
    const client = await sdkClient(refreshed.access_token);
    expect((await client.listTools()).tools.length).toBeGreaterThan(0);

    // RFC 8707: asking to retarget the grant at another resource is refused.
    const other = await SELF.fetch(`${BASE}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: refreshed.refresh_token,
        client_id: clientId,
        resource: `${BASE}/v1`,
      }).toString(),
    });
    expect(other.status).toBe(400);
    expect((await json(other)).error).toBe('invalid_target');
  });

  it('revokes a token at the revocation endpoint (RFC 7009): revoking the refresh token ends the grant', async () => {
    const { clientId, tokens } = await authorizeWith(await mintToken('scan'));
    expect(await mcpStatus(tokens.access_token)).toBe(200);
    const res = await SELF.fetch(`${BASE}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        token: tokens.refresh_token,
        token_type_hint: 'refresh_token',
        client_id: clientId,
      }).toString(),
    });
    expect(res.status).toBe(200);
    expect(await mcpStatus(tokens.access_token)).toBe(401);
  });

  it('Deny sends the browser back with access_denied and no code', async () => {
    const clientId = await register();
    const { challenge } = await pkce();
    const url = authorizeUrl(clientId, challenge);
    const page = await signIn(url, await mintToken('scan'));
    const denied = await postForm(url, page.jar, { handle: page.handle!, csrf: page.csrf!, decision: 'deny' });
    expect(denied.status).toBe(302);
    const back = new URL(denied.headers.get('location')!);
    expect(back.searchParams.get('error')).toBe('access_denied');
    expect(back.searchParams.get('code')).toBeNull();
  });

  it('bearer API tokens keep working on /mcp', async () => {
    const client = await sdkClient(await mintToken('scan'));
    expect((await client.listTools()).tools.length).toBeGreaterThan(0);
  });
});

describe('attacks on the flow', () => {
  it('a scan token cannot approve a request for admin: the page says so, and a forged Allow gets no code', async () => {
    const clientId = await register();
    const { verifier, challenge } = await pkce();
    const url = authorizeUrl(clientId, challenge, 'admin');
    const page = await signIn(url, await mintToken('scan'));
    expect(page.html).toMatch(/data-testid="refused">[^<]*Only an admin can approve it/);
    expect(page.html).not.toMatch(/value="approve"/);
    const forged = await postForm(url, page.jar, { handle: page.handle!, csrf: page.csrf!, decision: 'approve' });
    expect(forged.status).toBe(302);
    const back = new URL(forged.headers.get('location')!);
    expect(back.searchParams.get('error')).toBe('access_denied');
    expect(back.searchParams.get('code')).toBeNull();
    void verifier;

    // An admin approving the same kind of request gets admin.
    const { tokens } = await authorizeWith(await mintToken('admin'), { scope: 'admin' });
    expect(tokens.scope.split(' ').sort()).toEqual(['admin', 'scan']);
  });

  it('a consent POST without or with a wrong CSRF token is refused, and the right one still works', async () => {
    const clientId = await register();
    const { challenge } = await pkce();
    const url = authorizeUrl(clientId, challenge);
    const page = await signIn(url, await mintToken('scan'));
    for (const csrf of [undefined, 'wrong-csrf-token']) {
      const res = await postForm(url, page.jar, {
        handle: page.handle!,
        decision: 'approve',
        ...(csrf !== undefined && { csrf }),
      });
      expect(res.status).toBe(403);
      expect(res.headers.get('location')).toBeNull();
      expect(await res.json()).toMatchObject({ error: { type: 'forbidden', message: 'Missing or wrong CSRF token' } });
    }
    const ok = await postForm(url, page.jar, { handle: page.handle!, csrf: page.csrf!, decision: 'approve' });
    expect(ok.status).toBe(302);
    expect(new URL(ok.headers.get('location')!).searchParams.get('code')).toEqual(expect.any(String));
  });

  it('a cross-origin consent POST is refused', async () => {
    const clientId = await register();
    const { challenge } = await pkce();
    const res = await SELF.fetch(authorizeUrl(clientId, challenge), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.example' },
      body: new URLSearchParams({ step: 'signin', token: ADMIN }).toString(),
    });
    expect(res.status).toBe(403);
  });

  it('a code works once, and only with its PKCE verifier', async () => {
    const clientId = await register();
    const { verifier, challenge } = await pkce();
    const url = authorizeUrl(clientId, challenge);
    const page = await signIn(url, await mintToken('scan'));
    const approved = await postForm(url, page.jar, { handle: page.handle!, csrf: page.csrf!, decision: 'approve' });
    const code = new URL(approved.headers.get('location')!).searchParams.get('code')!;

    const wrong = await exchangeCode(clientId, code, (await pkce()).verifier);
    expect(wrong.status).toBe(400);
    expect((await json(wrong)).error).toBe('invalid_grant');

    const first = await exchangeCode(clientId, code, verifier);
    expect(first.status).toBe(200);
    const replay = await exchangeCode(clientId, code, verifier);
    expect(replay.status).toBe(400);
    expect((await json(replay)).error).toBe('invalid_grant');
  });

  it('refuses an authorization request without PKCE S256', async () => {
    const clientId = await register();
    const url = new URL(authorizeUrl(clientId, 'x'));
    url.searchParams.delete('code_challenge');
    url.searchParams.delete('code_challenge_method');
    const res = await SELF.fetch(url, { redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(new URL(res.headers.get('location')!).searchParams.get('error')).toBe('invalid_request');
  });

  it('a token the provider did not issue, or one for nothing, is a 401 challenge', async () => {
    for (const token of ['nope', 'ogr_0aaaaaaaaaaaaaaaa:grant:secret', `sgt_0${'A'.repeat(43)}`]) {
      const res = await SELF.fetch(RESOURCE, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: '{}',
      });
      expect(res.status, token).toBe(401);
      expect(res.headers.get('www-authenticate')).toContain('resource_metadata=');
    }
  });

  it('a Client ID Metadata Document that cannot be fetched is an error page, never a redirect to its URIs', async () => {
    // IP-literal client ids: no name to resolve, so no DNS query leaves the machine. The first is fetched and
    // nothing listens on its port; the others break the Client Identifier URL rules before any fetch.
    for (const clientId of [
      'https://127.0.0.1:9/oauth/client.json',
      'https://127.0.0.1:9/a/../client.json',
      'https://user@127.0.0.1:9/client.json',
    ]) {
      const { challenge } = await pkce();
      const url = new URL(authorizeUrl(clientId, challenge));
      url.searchParams.set('redirect_uri', 'https://127.0.0.1:9/callback');
      const res = await SELF.fetch(url, { redirect: 'manual' });
      expect(res.status, clientId).toBe(400);
      expect(res.headers.get('location')).toBeNull();
      expect(await res.text()).toMatch(/data-testid="consent-error"/);
    }
  });
});
