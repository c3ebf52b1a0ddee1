/** @jsxImportSource hono/jsx */
import {
  AuthorizationError,
  authorizationErrorRedirect,
  CimdFetchError,
  type AuthRequest,
  type ConsentDescription,
  type OAuthHelpers,
} from '@cloudflare/workers-oauth-provider';
import { Hono, type Context } from 'hono';
import { ScangateError, scanError } from '../../../shared/errors/index.ts';
import { consentDecision, mintGrantId } from '../../domain/oauth.ts';
import { randomShard, shardOfTokenId } from '../../domain/tokens.ts';
import { getCoordinator } from '../../objects/coordinator.do.ts';
import { getDirectory } from '../../objects/directory.do.ts';
import { authenticate } from '../auth.ts';
import { type DashEnv, nonceAndCsp, postedForm, sameOrigin } from '../dashboard/dashboard.api.tsx';
import { beginLogin } from '../dashboard/login.ts';
import {
  CONSENT_SESSION,
  csrfValid,
  currentSession,
  DASHBOARD_SESSION,
  endSession,
  startSession,
  type Session,
  type SessionKind,
} from '../dashboard/session.ts';
import { ConsentErrorPage, ConsentPage, SignInPage } from './consent-page.tsx';
import { atPublicOrigin, oauthHelpers, publicOrigin, type OAuthProps } from './server.ts';

/**
 * /authorize: the OAuth consent page, server-rendered with the dashboard's CSP, CSRF, session and login-throttle
 * code. GET validates the request (the provider: client, exact redirect URI, resource, PKCE) and asks who is
 * approving; POST step=signin signs in with a scangate token (throttled and audited like dashboard logins; a
 * 10-minute consent session, its own cookie) or the browser's dashboard session, and shows the decision; POST
 * decision=approve|deny (CSRF-checked, the provider's one-time handle bound to this browser) completes it.
 * Every approval, refusal and denial is audited in the approving token's pool.
 */

/** The form posts back to the URL it came from, so each step can re-validate the request from its query. */
const selfUrl = (c: Context) => {
  const url = new URL(c.req.url);
  return `/authorize${url.search}`;
};

function copyHeaders(c: Context, headers: Headers): void {
  for (const cookie of headers.getSetCookie()) c.header('set-cookie', cookie, { append: true });
  headers.forEach((value, name) => {
    if (name !== 'set-cookie' && name !== 'content-security-policy') c.header(name, value);
  });
}

function errorPage(c: Context<DashEnv>, message: string, fix: string, status: 400 | 401 | 403 = 400) {
  return c.html(<ConsentErrorPage nonce={c.var.nonce} message={message} fix={fix} />, status);
}

/** The validated authorization request, or the response for one that is not (redirected only when safe). */
async function parseRequest(
  c: Context<DashEnv>,
  oauth: OAuthHelpers,
): Promise<{ request: AuthRequest; details: ConsentDescription } | Response> {
  try {
    const request = await oauth.parseAuthRequest(atPublicOrigin(c.req.raw, publicOrigin(c.env, c.req.url)));
    // PKCE S256 for every client, confidential ones too (the provider requires it of public clients only).
    if (request.codeChallengeMethod !== 'S256')
      return c.redirect(authorizationErrorRedirect(request, 'invalid_request', 'PKCE with S256 is required'), 302);
    return { request, details: await oauth.describeConsent(request) };
  } catch (error) {
    if (error instanceof AuthorizationError && error.redirectTo) return c.redirect(error.redirectTo, 302);
    if (error instanceof AuthorizationError)
      return errorPage(c, `This authorization request is not valid: ${error.description}`, 'Start again from the app.');
    if (error instanceof CimdFetchError)
      return errorPage(c, "This app's metadata document could not be fetched or is not valid.", 'Try again later.');
    throw error;
  }
}

/**
 * The origin Allow and Deny redirect to, for the page's CSP `form-action` (browsers apply it to a form's
 * redirects). The provider validated the URI (https, or http on loopback); anything else adds nothing.
 */
function redirectOrigin(redirectUri: string): string | undefined {
  const url = URL.parse(redirectUri);
  return url && (url.protocol === 'https:' || url.protocol === 'http:') ? url.origin : undefined;
}

/** Who approves: the consent sign-in of this browser, else its dashboard session (an admin's). */
async function approver(c: Context<DashEnv>): Promise<{ session: Session; kind: SessionKind } | null> {
  for (const kind of [CONSENT_SESSION, DASHBOARD_SESSION]) {
    const session = await currentSession(c, kind);
    if (session) return { session, kind };
  }
  return null;
}

/**
 * The redirect back to the app, with the provider's cookies. A consent sign-in ends with its decision: the next
 * app to ask, in this browser, is asked for a token again (a dashboard session is the admin's to end).
 */
async function backToApp(c: Context<DashEnv>, headers: Headers, signIn: { session: Session; kind: SessionKind }) {
  copyHeaders(c, headers);
  if (signIn.kind === CONSENT_SESSION) await endSession(c, signIn.session, CONSENT_SESSION);
  return c.body(null, 302);
}

async function consentPage(
  c: Context<DashEnv>,
  oauth: OAuthHelpers,
  parsed: { request: AuthRequest; details: ConsentDescription },
  session: Session,
): Promise<Response> {
  const consent = await oauth.beginConsent(parsed.request);
  copyHeaders(c, consent.headers);
  c.set('formTarget', redirectOrigin(parsed.request.redirectUri));
  return c.html(
    <ConsentPage
      nonce={c.var.nonce}
      details={parsed.details}
      action={selfUrl(c)}
      handle={consent.handle}
      csrf={session.csrf}
      who={session.principal.name}
      pool={session.principal.pool}
      decision={consentDecision(parsed.request.scope, session.principal.role)}
    />,
  );
}

async function signIn(c: Context<DashEnv>, form: Record<string, string | File>): Promise<Response> {
  const oauth = oauthHelpers(c.env, c.req.url);
  const parsed = await parseRequest(c, oauth);
  if (parsed instanceof Response) return parsed;
  const again = (error: string) =>
    c.html(<SignInPage nonce={c.var.nonce} details={parsed.details} action={selfUrl(c)} error={error} />, 401);
  if (form.use === 'dashboard') {
    const session = await currentSession(c, DASHBOARD_SESSION);
    if (!session) return again('This browser has no dashboard session. Sign in with a token instead.');
    return consentPage(c, oauth, parsed, session);
  }
  const token = typeof form.token === 'string' ? form.token.trim().slice(0, 512) : '';
  const attempt = await beginLogin(c.env, c.req.header('cf-connecting-ip') ?? 'unknown', token, 'oauth-consent');
  const principal = token ? await authenticate(`Bearer ${token}`, c.env) : undefined;
  if (!principal || principal.role === 'runner') {
    await attempt.failed(principal);
    return again('That is not a valid scangate scan or admin token.');
  }
  await attempt.succeeded(principal);
  return consentPage(c, oauth, parsed, await startSession(c, principal, CONSENT_SESSION));
}

async function decide(c: Context<DashEnv>, form: Record<string, string | File>): Promise<Response> {
  const signedIn = await approver(c);
  if (!signedIn)
    throw new ScangateError(
      scanError('unauthorized', 'Not signed in on the consent page', 'Start the authorization again from the app.'),
    );
  const { session } = signedIn;
  if (!(await csrfValid(session, typeof form.csrf === 'string' ? form.csrf : undefined)))
    throw new ScangateError(
      scanError('forbidden', 'Missing or wrong CSRF token', 'Start the authorization again from the app.'),
    );
  const { principal } = session;
  const oauth = oauthHelpers(c.env, c.req.url);
  const handle = typeof form.handle === 'string' ? form.handle : '';
  const audit = (action: string, decision: string, detail: Record<string, string | string[]>) =>
    getCoordinator(c.env, principal.pool).recordAudit(principal.name, action, decision, {
      tokenId: principal.tokenId,
      ...detail,
    });
  try {
    if (form.decision !== 'approve') {
      const denied = await oauth.denyConsent(c.req.raw, handle);
      await audit('oauth.consent.deny', 'refused', { clientId: denied.request.clientId });
      return backToApp(c, denied.headers, signedIn);
    }
    const approved = await oauth.approveConsent(c.req.raw, handle);
    const request = approved.request;
    const decision = consentDecision(request.scope, principal.role);
    if (!decision.ok) {
      await audit('oauth.consent.refuse', 'refused', { clientId: request.clientId, scopes: request.scope });
      approved.headers.set('location', authorizationErrorRedirect(request, 'access_denied', decision.reason));
      return backToApp(c, approved.headers, signedIn);
    }
    const client = await oauth.lookupClient(request.clientId);
    const shard = shardOfTokenId(principal.tokenId) ?? randomShard();
    const grantId = mintGrantId(shard);
    const props: OAuthProps = { grantId };
    // The provider's "user" is the grant itself, so DELETE /v1/oauth/grants/:id finds exactly its tokens.
    const { redirectTo } = await oauth.completeAuthorization({
      request,
      userId: grantId,
      metadata: { grantId },
      scope: decision.granted,
      props,
    });
    // Stored after the provider's grant: if this fails, the client's tokens fail the per-request check (closed).
    await getDirectory(c.env, shard).storeGrant({
      id: grantId,
      clientId: request.clientId.slice(0, 512),
      clientName: (client?.clientName ?? request.clientId).slice(0, 200),
      redirectHost: new URL(request.redirectUri).host,
      tokenId: principal.tokenId,
      tokenName: principal.name,
      scopes: decision.granted,
      pool: principal.pool,
      createdAt: Date.now(),
    });
    await audit('oauth.grant.approve', 'accepted', { grantId, clientId: request.clientId, scopes: decision.granted });
    approved.headers.set('location', redirectTo);
    return backToApp(c, approved.headers, signedIn);
  } catch (error) {
    if (error instanceof AuthorizationError)
      return errorPage(c, `This consent page cannot be used: ${error.description}`, 'Start again from the app.');
    throw error;
  }
}

export const consentApi = new Hono<DashEnv>()
  .use('/authorize', nonceAndCsp)
  .get('/authorize', async (c) => {
    const oauth = oauthHelpers(c.env, c.req.url);
    const parsed = await parseRequest(c, oauth);
    if (parsed instanceof Response) return parsed;
    // A dashboard session is visible here only on a same-site navigation (SameSite=Strict); else sign in first.
    const signedIn = await approver(c);
    if (!signedIn) return c.html(<SignInPage nonce={c.var.nonce} details={parsed.details} action={selfUrl(c)} />);
    return consentPage(c, oauth, parsed, signedIn.session);
  })
  .post('/authorize', async (c) => {
    if (!sameOrigin(c) && c.req.header('origin') !== publicOrigin(c.env, c.req.url))
      throw new ScangateError(
        scanError('forbidden', 'Cross-origin consent refused', 'Answer on the consent page itself.'),
      );
    const form = await postedForm(c);
    return form.step === 'signin' ? signIn(c, form) : decide(c, form);
  });
