/** @jsxImportSource hono/jsx */
/**
 * The OAuth consent page's HTML (hono/jsx: every value is escaped text, and most of them come from the client's
 * registration or metadata document, which an attacker chooses). Same layout, CSS and CSP as the dashboard.
 */
import type { ConsentDescription } from '@cloudflare/workers-oauth-provider';
import type { ConsentDecision } from '../../domain/oauth.ts';
import { Layout } from '../dashboard/views.tsx';

const SCOPE_TEXT: Record<string, string> = {
  scan: 'scan: run nmap scans through scangate and read the scans this app starts',
  admin: 'admin: everything an admin token of your pool can do',
};

function ClientFacts({ details }: { details: ConsentDescription }) {
  return (
    <>
      <dl class="consent-facts">
        <dt>App</dt>
        <dd data-testid="client-name">{details.clientName}</dd>
        <dt>Published by</dt>
        <dd>
          {details.clientDomain ?? <span class="muted">not verified: this app registered itself and named itself</span>}
        </dd>
        <dt>Access goes to</dt>
        <dd data-testid="redirect-host">{details.redirectHost}</dd>
        <dt>Scopes asked</dt>
        <dd data-testid="scopes-asked">{details.scope.length > 0 ? details.scope.join(' ') : '(none: scan)'}</dd>
      </dl>
      {details.redirectIsLoopback && (
        <p class="error" role="note">
          This sends access to an app on your own computer. Continue only if you just started signing in from it.
        </p>
      )}
    </>
  );
}

/** Step 1: who is approving. A scangate token (scan or admin), or the dashboard session of this browser. */
export function SignInPage(props: { nonce: string; details: ConsentDescription; action: string; error?: string }) {
  return (
    <Layout title="scangate: authorize an app" nonce={props.nonce}>
      <main class="login">
        <h1>scangate</h1>
        <p>An app asks to use scangate for you. Sign in to see what it asks for and to allow or deny it.</p>
        <ClientFacts details={props.details} />
        {props.error && (
          <p class="error" role="alert">
            {props.error}
          </p>
        )}
        <form method="post" action={props.action}>
          <input type="hidden" name="step" value="signin" />
          <label for="token">Your scangate token</label>
          <input id="token" name="token" type="password" autocomplete="off" autofocus />
          <button type="submit">Sign in</button>
        </form>
        <form method="post" action={props.action}>
          <input type="hidden" name="step" value="signin" />
          <input type="hidden" name="use" value="dashboard" />
          <button type="submit">Use my dashboard session</button>
        </form>
      </main>
    </Layout>
  );
}

/** Step 2: the decision. A refused request (admin asked by a non-admin) offers Deny only, and says why. */
export function ConsentPage(props: {
  nonce: string;
  details: ConsentDescription;
  action: string;
  handle: string;
  csrf: string;
  who: string;
  pool: string;
  decision: ConsentDecision;
}) {
  const { decision } = props;
  return (
    <Layout title="scangate: authorize an app" nonce={props.nonce}>
      <main class="login">
        <h1>Allow {props.details.clientName}?</h1>
        <ClientFacts details={props.details} />
        <dl class="consent-facts">
          <dt>Signed in as</dt>
          <dd data-testid="who">{props.who}</dd>
          <dt>Pool</dt>
          <dd data-testid="pool">{props.pool}</dd>
        </dl>
        {decision.ok ? (
          <>
            <p>If you allow it, the app gets:</p>
            <ul data-testid="granted">
              {decision.granted.map((s) => (
                <li>{SCOPE_TEXT[s]}</li>
              ))}
            </ul>
          </>
        ) : (
          <p class="error" role="alert" data-testid="refused">
            {decision.reason}
          </p>
        )}
        {decision.ignored.length > 0 && (
          <p class="muted">Not granted (scangate has no such scope): {decision.ignored.join(' ')}</p>
        )}
        <form method="post" action={props.action}>
          <input type="hidden" name="handle" value={props.handle} />
          <input type="hidden" name="csrf" value={props.csrf} />
          {decision.ok && (
            <button type="submit" name="decision" value="approve">
              Allow
            </button>
          )}{' '}
          <button type="submit" name="decision" value="deny" class="danger">
            Deny
          </button>
        </form>
      </main>
    </Layout>
  );
}

/** A request that cannot be sent back to the app (unknown client, bad redirect URI, expired page): said here. */
export function ConsentErrorPage(props: { nonce: string; message: string; fix: string }) {
  return (
    <Layout title="scangate: authorization failed" nonce={props.nonce}>
      <main class="login">
        <h1>scangate</h1>
        <p class="error" role="alert" data-testid="consent-error">
          {props.message}
        </p>
        <p>{props.fix}</p>
      </main>
    </Layout>
  );
}
