import { existsSync } from 'node:fs';
import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from '@modelcontextprotocol/client';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import { UnauthorizedError, type OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type {
  OAuthClientInformationMixed,
  OAuthClientMetadata,
  OAuthTokens,
} from '@modelcontextprotocol/sdk/shared/auth.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useStack } from '../helpers/e2e.ts';
import { inspector as runInspector } from '../helpers/inspector.ts';

/**
 * OAuth 2.1 on /mcp with clients nobody here wrote: the official v1 SDK client with its OAuth client provider
 * interface against the real stack (wrangler dev, a real runner, real nmap on loopback). It discovers the
 * authorization server from the 401, registers with DCR, and sends the person to the real consent page, which
 * Debian's headless Chromium (playwright-core) fills in: sign in with a scan token, Allow. The redirect comes back to
 * a loopback server this test owns; the SDK exchanges the code (PKCE S256), calls tools, refreshes a token the
 * server refuses, and after the grant is revoked its next call fails and it is sent back to authorize. The same
 * OAuth access token also works with the v2 client and the MCP Inspector CLI, and stops working for them too.
 */
const CHROMIUM = '/usr/bin/chromium';
const stack = useStack();
let browser: Browser;
let callback: HttpServer;
let callbackUrl = '';
let listener: Server;
let openPort = 0;
const codes: string[] = [];

if (!existsSync(CHROMIUM)) console.warn(`OAuth browser e2e skipped: no ${CHROMIUM} (apt-get install chromium)`);

/** An in-memory OAuthClientProvider, as a desktop MCP host would keep one per server. */
class MemoryProvider implements OAuthClientProvider {
  client: OAuthClientInformationMixed | undefined;
  saved: OAuthTokens | undefined;
  verifier = '';
  readonly redirects: URL[] = [];
  /** What the host does with the authorization URL: here, the person in the browser. */
  onRedirect: (url: URL) => Promise<void>;
  constructor(onRedirect: (url: URL) => Promise<void>) {
    this.onRedirect = onRedirect;
  }
  get redirectUrl(): string {
    return callbackUrl;
  }
  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: 'scangate e2e agent',
      redirect_uris: [callbackUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }
  clientInformation() {
    return this.client;
  }
  saveClientInformation(info: OAuthClientInformationMixed) {
    this.client = info;
  }
  tokens() {
    return this.saved;
  }
  saveTokens(tokens: OAuthTokens) {
    this.saved = tokens;
  }
  async redirectToAuthorization(url: URL) {
    this.redirects.push(url);
    await this.onRedirect(url);
  }
  saveCodeVerifier(verifier: string) {
    this.verifier = verifier;
  }
  codeVerifier() {
    return this.verifier;
  }
}

/** The person at the browser: signs in on the consent page with `token`, checks what it shows, clicks Allow. */
async function approveInBrowser(url: URL, token: string): Promise<void> {
  const context = await browser.newContext();
  // Waits are on page events; the ceiling only has to outlast a machine with both cores busy.
  context.setDefaultTimeout(90_000);
  try {
    const page = await context.newPage();
    await page.goto(url.href);
    await page.fill('#token', token);
    await page.click('button:has-text("Sign in")');
    await page.waitForSelector('[data-testid="granted"]');
    expect(await page.textContent('[data-testid="client-name"]')).toBe('scangate e2e agent');
    expect(await page.textContent('[data-testid="redirect-host"]')).toBe('127.0.0.1');
    expect(await page.textContent('[data-testid="scopes-asked"]')).toBe('scan');
    expect(await page.textContent('[data-testid="pool"]')).toBe('default');
    const before = codes.length;
    await page.click('button[value="approve"]');
    await page.waitForURL((u) => u.pathname === '/callback');
    expect(codes.length).toBe(before + 1);
  } finally {
    await context.close();
  }
}

const textOf = (result: unknown) =>
  ((result as CallToolResult).content as Array<{ text: string }>).map((c) => c.text).join('\n');

beforeAll(async () => {
  callback = createHttpServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const code = url.searchParams.get('code');
    if (url.pathname === '/callback' && code) codes.push(code);
    res.writeHead(200, { 'content-type': 'text/plain' }).end('You can close this window.');
  });
  await new Promise<void>((resolve) => callback.listen(0, '127.0.0.1', resolve));
  callbackUrl = `http://127.0.0.1:${(callback.address() as { port: number }).port}/callback`;
  // nmap's connect scan resets the connection: expected, not an error of this test.
  listener = createServer((socket) => socket.on('error', () => {}).end());
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  openPort = (listener.address() as { port: number }).port;
  if (existsSync(CHROMIUM))
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
}, 60_000);

const inspector = (token: string, ...args: string[]) => runInspector(stack.url, token, stack.dir, ...args);

afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => callback?.close(resolve));
  await new Promise((resolve) => listener?.close(resolve));
});

describe.skipIf(!existsSync(CHROMIUM))(
  'the v1 SDK client over OAuth, consent in Chromium',
  { timeout: 180_000 },
  () => {
    it('discovers, registers, authorizes with PKCE, calls tools, refreshes, and stops when its grant is revoked', async () => {
      await stack.readyRunner('oauth-e2e');
      const person = await stack.mintToken('scan', 'oauth e2e person');
      const provider = new MemoryProvider((url) => approveInBrowser(url, person));
      const transportFor = () =>
        new StreamableHTTPClientTransport(new URL(`${stack.url}/mcp`), { authProvider: provider });

      // 1. No token: the 401 starts discovery, DCR and the browser; the SDK reports it needs the code.
      const first = transportFor();
      await expect(new Client({ name: 'oauth-e2e', version: '1.0.0' }).connect(first)).rejects.toThrow(
        UnauthorizedError,
      );
      expect(provider.client?.client_id).toEqual(expect.any(String));
      const asked = provider.redirects[0]!;
      expect(asked.origin + asked.pathname).toBe(`${stack.url}/authorize`);
      expect(asked.searchParams.get('code_challenge_method')).toBe('S256');
      expect(asked.searchParams.get('resource')).toBe(`${stack.url}/mcp`);
      await first.finishAuth(codes.at(-1)!);
      expect(provider.saved).toMatchObject({ token_type: expect.stringMatching(/^bearer$/i), scope: 'scan' });

      // 2. With the token: tools, including a real scan of a port this test opened.
      const client = new Client({ name: 'oauth-e2e', version: '1.0.0' });
      await client.connect(transportFor());
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).toContain('nmap_scan');
      const scan = await client.callTool(
        { name: 'nmap_scan', arguments: { target: '127.0.0.1', args: `-sT -p ${openPort}` } },
        undefined,
        { timeout: 120_000 },
      );
      expect(scan.isError, textOf(scan)).toBeFalsy();
      expect(scan.structuredContent).toMatchObject({
        status: 'succeeded',
        openPorts: [expect.objectContaining({ port: openPort })],
      });

      // 3. Refresh: the server refuses the access token, the SDK refreshes and retries, the call succeeds.
      const refreshToken = provider.saved!.refresh_token!;
      provider.saved = { ...provider.saved!, access_token: 'no-longer-valid' };
      const validated = await client.callTool({ name: 'validate_scan', arguments: { target: '127.0.0.1' } });
      expect(validated.isError).toBeFalsy();
      expect(provider.saved.access_token).not.toBe('no-longer-valid');
      expect(provider.saved.refresh_token).not.toBe(refreshToken);
      expect(provider.redirects).toHaveLength(1);

      // 3b. The same OAuth access token with clients nobody here wrote: the v2 client and the MCP Inspector CLI.
      const oauthToken = provider.saved!.access_token;
      const v2 = new ClientV2({ name: 'oauth-e2e-v2', version: '1.0.0' });
      await v2.connect(
        new TransportV2(new URL(`${stack.url}/mcp`), {
          requestInit: { headers: { authorization: `Bearer ${oauthToken}` } },
        }),
      );
      expect((await v2.listTools()).tools.map((t) => t.name)).toContain('wait_for_scan');
      const v2Valid = await v2.callTool({ name: 'validate_scan', arguments: { target: '127.0.0.1' } });
      expect(v2Valid.isError).toBeFalsy();
      await v2.close();
      const listedByInspector = await inspector(oauthToken, '--method', 'tools/list', '--strict');
      expect(listedByInspector.code, listedByInspector.stderr).toBe(0);
      expect(listedByInspector.stdout).toContain('"nmap_scan"');

      // 4. An admin revokes the grant: the very next call fails, and the client is sent back to authorize.
      const { body } = await stack.api(stack.admin, 'GET', '/v1/oauth/grants');
      const grant = body.grants.find((g: { clientId: string }) => g.clientId === provider.client!.client_id);
      expect(grant).toMatchObject({ tokenName: 'oauth e2e person', scopes: ['scan'], status: 'active' });
      expect((await stack.api(stack.admin, 'DELETE', `/v1/oauth/grants/${grant.id}`)).status).toBe(200);
      // The access token the SDK holds is refused at once (not at its expiry or next refresh)…
      const raw = await fetch(`${stack.url}/mcp`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${provider.saved!.access_token}`,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
      });
      expect(raw.status).toBe(401);
      expect(raw.headers.get('www-authenticate')).toContain('error="invalid_token"');
      // …and so is its refresh token: the SDK's next call fails (the provider answers the refresh invalid_grant).
      provider.onRedirect = async () => {}; // nobody at the browser this time
      await expect(client.callTool({ name: 'validate_scan', arguments: { target: '127.0.0.1' } })).rejects.toThrow(
        /invalid_grant|Unauthorized|Grant not found/i,
      );
      const refusedInspector = await inspector(oauthToken, '--method', 'tools/list');
      expect(refusedInspector.code).not.toBe(0);
      expect(refusedInspector.stdout + refusedInspector.stderr).toMatch(
        /401|Unauthorized|invalid_token|auth_required/i,
      );
      const after = await stack.api(stack.admin, 'GET', '/v1/oauth/grants');
      expect(after.body.grants.find((g: { id: string }) => g.id === grant.id).status).toBe('revoked');
      await client.close();
    });
  },
);
