import { SELF } from 'cloudflare:test';
import { BASE } from './runner-client.ts';

/**
 * A test-side OAuth client driven with plain fetch against the real Worker (the provider, our consent page and the
 * Directory in workerd): DCR, the consent page as a browser would use it (cookies, the form's hidden fields), the
 * token endpoint. Each step returns the raw Response where a test wants to look at it.
 */
export const RESOURCE = `${BASE}/mcp`;
export const REDIRECT_URI = 'http://127.0.0.1:38123/callback';

function base64url(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export async function pkce(): Promise<{ verifier: string; challenge: string }> {
  const verifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
  return { verifier, challenge: base64url(digest) };
}

/** The cookies a browser would keep for the Worker's origin (name → value). */
export class CookieJar {
  readonly cookies = new Map<string, string>();
  take(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      if (/max-age=0/i.test(line) || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
  header(): string {
    return [...this.cookies].map(([n, v]) => `${n}=${v}`).join('; ');
  }
}

export async function register(name = 'Test Agent', redirectUri = REDIRECT_URI): Promise<string> {
  const res = await SELF.fetch(`${BASE}/oauth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      client_name: name,
      redirect_uris: [redirectUri],
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
    }),
  });
  if (res.status !== 201) throw new Error(`DCR: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { client_id: string }).client_id;
}

export function authorizeUrl(clientId: string, challenge: string, scope = 'scan', state = 'st-1'): string {
  const q = new URLSearchParams({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: REDIRECT_URI,
    scope,
    state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    resource: RESOURCE,
  });
  return `${BASE}/authorize?${q}`;
}

/** A same-origin form POST with the jar's cookies, as the consent page's own forms send it. */
export async function postForm(url: string, jar: CookieJar, fields: Record<string, string>): Promise<Response> {
  const res = await SELF.fetch(url, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: BASE, cookie: jar.header() },
    body: new URLSearchParams(fields).toString(),
  });
  jar.take(res);
  return res;
}

export function hidden(html: string, name: string): string | undefined {
  return new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1];
}

/** Signs in on the consent page with `token` and returns the decision page, its handle and CSRF token. */
export async function signIn(
  url: string,
  token: string,
  jar = new CookieJar(),
): Promise<{
  jar: CookieJar;
  html: string;
  status: number;
  csp: string;
  handle: string | undefined;
  csrf: string | undefined;
}> {
  const res = await postForm(url, jar, { step: 'signin', token });
  const html = await res.text();
  const csp = res.headers.get('content-security-policy') ?? '';
  return { jar, html, status: res.status, csp, handle: hidden(html, 'handle'), csrf: hidden(html, 'csrf') };
}

export async function exchangeCode(clientId: string, code: string, verifier: string): Promise<Response> {
  return SELF.fetch(`${BASE}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: REDIRECT_URI,
      client_id: clientId,
      code_verifier: verifier,
      resource: RESOURCE,
    }).toString(),
  });
}

export interface Tokens {
  access_token: string;
  refresh_token: string;
  expires_in: number;
  scope: string;
  resource?: string;
}

/** The whole flow: register, sign in with `token`, Allow, exchange the code. */
export async function authorizeWith(
  token: string,
  opts: { scope?: string; clientName?: string } = {},
): Promise<{ clientId: string; tokens: Tokens; code: string }> {
  const clientId = await register(opts.clientName);
  const { verifier, challenge } = await pkce();
  const url = authorizeUrl(clientId, challenge, opts.scope);
  const page = await signIn(url, token);
  if (!page.handle || !page.csrf) throw new Error(`no consent form: ${page.status} ${page.html.slice(0, 300)}`);
  const approved = await postForm(url, page.jar, { handle: page.handle, csrf: page.csrf, decision: 'approve' });
  const location = approved.headers.get('location');
  const code = location ? new URL(location).searchParams.get('code') : null;
  if (approved.status !== 302 || !code) throw new Error(`no code: ${approved.status} ${location}`);
  const res = await exchangeCode(clientId, code, verifier);
  if (res.status !== 200) throw new Error(`token: ${res.status} ${await res.text()}`);
  return { clientId, tokens: (await res.json()) as Tokens, code };
}

/** One JSON-RPC call on /mcp with a bearer token, answered as JSON (or an SSE stream of one message). */
export async function mcpCall(token: string, method: string, params: Record<string, unknown> = {}): Promise<Response> {
  return SELF.fetch(RESOURCE, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2025-11-25',
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
}
