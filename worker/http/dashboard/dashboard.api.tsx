/** @jsxImportSource hono/jsx */
import { Hono, type Context } from 'hono';
import { ScangateError, scanError, type ScanError } from '../../../shared/errors/index.ts';
import { authenticate, type AppEnv } from '../auth.ts';
import { getCoordinator } from '../../objects/coordinator.do.ts';
import { revokeRunnerEverywhere } from '../routes/admin.api.ts';
import { SCAN_ID_PATTERN, scanNotFound, TERMINAL } from '../../../shared/scan/index.ts';
import { fail, unwrap, type Result } from '../../domain/result.ts';
import { createEnrolledRunner, enrollRunner } from '../routes/enrollment.api.ts';
import { EnrollmentPage } from './enrollment-page.tsx';
import { randomToken } from '../../domain/tokens.ts';
import { beginLogin } from './login.ts';
import { csrfValid, currentSession, endSession, startSession, type Session } from './session.ts';
import { scanPageStream } from './scan-live.ts';
import { renderScanSections, ScanPage } from './scan-page.tsx';
import { renderedFeed } from './front-live.ts';
import { DashboardPage, LoginPage, renderSections } from './views.tsx';
import { InventoryPage } from './history-views.tsx';
import { inventoryQuery } from '../routes/inventory-query.ts';
import type { Coordinator } from '../../objects/coordinator.do.ts';
import type { ScanDiffView } from '../../objects/coordinator/history.ts';
import type { Principal } from '../../domain/principal.ts';
import type { Scan, ScanChanges } from '../../../shared/scan/index.ts';
import { SchedulesPage } from './schedules-page.tsx';
import { grantView, listGrants, revokeGrant } from '../oauth/grants.api.ts';
import { GrantsSection } from './grants-section.tsx';

/**
 * GET /dashboard for admins: log in with an admin token (exchanged for a session cookie), watch breakers,
 * runners and scans live (SSE from the Coordinator), act on them (each action confirmed in the page, CSRF-checked
 * here, audited by the Coordinator). Every page carries a CSP that allows only its own nonce'd style and script.
 */
/** `formTarget`: an origin the page's forms may end up at (the OAuth consent page's redirect back to its app). */
export type DashEnv = AppEnv & { Variables: { nonce: string; formTarget?: string } };

export function csp(nonce: string, formTarget?: string): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src 'nonce-${nonce}'`,
    "img-src 'self' data:",
    "connect-src 'self'",
    // Browsers hold a form's redirects to form-action too: the consent page's Allow ends at the app's redirect URI.
    `form-action 'self'${formTarget ? ` ${formTarget}` : ''}`,
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ');
}

/** A POST from another origin is refused outright (the cookie is SameSite=Strict too; this is belt and braces). */
export function sameOrigin(c: Context): boolean {
  const origin = c.req.header('origin');
  return !origin || origin === new URL(c.req.url).origin;
}

function forbidden(message: string, suggestion: string): ScangateError {
  return new ScangateError(scanError('forbidden', message, suggestion));
}

const ACTIONS = [
  'breaker-reset',
  'breaker-open',
  'breaker-close',
  'runner-revoke',
  'scan-cancel',
  'policy-intrusive',
  'oauth-grant-revoke',
  'schedule-run',
  'schedule-pause',
  'schedule-resume',
] as const;
type Action = (typeof ACTIONS)[number];

async function perform(
  c: Context<DashEnv>,
  session: Session,
  action: Action,
  target: string,
  value: string,
): Promise<{ ok: true; notice: string } | { ok: false; error: ScanError }> {
  const { principal } = session;
  const coordinator = getCoordinator(c.env, principal.pool);
  const actor = `${principal.name} (dashboard)`;
  const done = <T,>(result: Result<T>, notice: string) =>
    result.ok ? { ok: true as const, notice } : { ok: false as const, error: result.error };
  switch (action) {
    case 'breaker-reset':
    case 'breaker-open':
    case 'breaker-close': {
      const verb = action.slice('breaker-'.length) as 'reset' | 'open' | 'close';
      return done(
        await coordinator.breakerAction(target, verb, actor),
        `Breaker ${verb === 'reset' ? 'reset' : verb === 'open' ? 'forced open' : 'forced closed'}.`,
      );
    }
    case 'runner-revoke':
      return done(
        await revokeRunnerEverywhere(c.env, principal.pool, target, actor),
        'Runner revoked; its link was cut.',
      );
    case 'scan-cancel':
      return done(await coordinator.cancelScan({ ...principal, name: actor }, target), 'Cancel requested.');
    case 'schedule-run': {
      const run = await coordinator.runSchedule({ ...principal, name: actor }, target);
      return run.ok ? { ok: true, notice: `Started scan ${run.value.scan.id}.` } : { ok: false, error: run.error };
    }
    case 'schedule-pause':
    case 'schedule-resume': {
      const enabled = action === 'schedule-resume';
      return done(
        await coordinator.updateSchedule({ ...principal, name: actor }, target, { enabled }),
        enabled ? 'Schedule resumed.' : 'Schedule paused.',
      );
    }
    case 'oauth-grant-revoke':
      return done(
        await revokeGrant(c.env, c.req.url, principal, target, actor),
        'App access revoked; its next request fails.',
      );
    case 'policy-intrusive':
      if (value !== 'on' && value !== 'off')
        return {
          ok: false,
          error: scanError('validation_error', 'value must be on or off', 'Use the button on the dashboard.'),
        };
      return done(
        await coordinator.putPolicy({ allowIntrusive: value === 'on' }, actor),
        value === 'on' ? 'Intrusive scans are now allowed.' : 'Intrusive scans are now disabled.',
      );
  }
}

/** A finished scan's diff with its previous scan, for its page (null while it runs or when it cannot be compared). */
async function diffIfFinished(
  coordinator: DurableObjectStub<Coordinator>,
  principal: Principal,
  scan: Scan,
): Promise<ScanDiffView | null> {
  if (!TERMINAL.has(scan.status) || !scan.report) return null;
  const diffed = await coordinator.diffScan(principal, scan.id);
  return diffed.ok ? diffed.value : null;
}

/**
 * The posted form. A body that is no form (a multipart type without a boundary, say) makes Hono's parser throw a
 * TypeError, which would surface as a 500: it is the client's mistake, so it MUST be a validation_error.
 */
export async function postedForm(c: Context): Promise<Record<string, string | File>> {
  try {
    return await c.req.parseBody();
  } catch {
    throw new ScangateError(
      scanError(
        'validation_error',
        'The request body is not a readable form',
        "Post the dashboard's own form (application/x-www-form-urlencoded or multipart/form-data with a boundary).",
      ),
    );
  }
}

export const dashboardApi = new Hono<DashEnv>()
  // '/dashboard/*' matches '/dashboard' too: one nonce per response.
  .use('/dashboard/*', nonceAndCsp)
  .get('/dashboard', async (c) => {
    const session = await currentSession(c);
    if (!session) return c.html(<LoginPage nonce={c.var.nonce} />);
    const [data, grants] = await Promise.all([
      getCoordinator(c.env, session.principal.pool).dashboardData(),
      listGrants(c.env, session.principal),
    ]);
    const notice = c.req.query('notice')?.slice(0, 200);
    const error = c.req.query('error')?.slice(0, 300);
    return c.html(
      <DashboardPage
        data={data}
        nonce={c.var.nonce}
        csrf={session.csrf}
        who={session.principal.name}
        grants={<GrantsSection grants={grants.map(grantView)} csrf={session.csrf} />}
        {...(notice && { notice })}
        {...(error && { error })}
      />,
    );
  })
  .post('/dashboard/login', async (c) => {
    if (!sameOrigin(c)) throw forbidden('Cross-origin login refused', 'Log in from the dashboard page itself.');
    const form = await postedForm(c);
    const token = typeof form.token === 'string' ? form.token.trim().slice(0, 512) : '';
    // Throttled per address and per token prefix (login-throttle.ts); CF-Connecting-IP is set by Cloudflare's edge.
    const attempt = await beginLogin(c.env, c.req.header('cf-connecting-ip') ?? 'unknown', token);
    const principal = token ? await authenticate(`Bearer ${token}`, c.env) : undefined;
    if (principal?.role !== 'admin') {
      await attempt.failed(principal);
      return c.html(<LoginPage nonce={c.var.nonce} error="That is not a valid admin token." />, 401);
    }
    await attempt.succeeded(principal);
    await startSession(c, principal);
    return c.redirect('/dashboard', 303);
  })
  .post('/dashboard/logout', async (c) => {
    const session = await currentSession(c);
    if (session) {
      const form = await postedForm(c);
      if (!(await csrfValid(session, typeof form.csrf === 'string' ? form.csrf : undefined)))
        throw forbidden('Missing or wrong CSRF token', 'Reload the dashboard and try again.');
      await endSession(c, session);
    }
    return c.redirect('/dashboard', 303);
  })
  .get('/dashboard/events', async (c) => {
    const session = await currentSession(c);
    if (!session)
      throw new ScangateError(
        scanError('unauthorized', 'Not logged in to the dashboard', 'Log in at /dashboard with an admin token.'),
      );
    const feed = await getCoordinator(c.env, session.principal.pool).fetch(
      new Request('https://coordinator/dashboard-stream', { headers: { 'x-token-id': session.principal.tokenId } }),
    );
    return new Response(feed.body && renderedFeed(feed.body, renderSections), {
      status: feed.status,
      headers: new Headers(feed.headers),
    });
  })
  .get('/dashboard/scans/:id', async (c) => {
    const session = await currentSession(c);
    if (!session) return c.redirect('/dashboard', 303);
    const id = c.req.param('id');
    if (!SCAN_ID_PATTERN.test(id)) throw new ScangateError(scanNotFound(id));
    const coordinator = getCoordinator(c.env, session.principal.pool);
    const scan = unwrap(await coordinator.getScan(session.principal, id));
    const diff = await diffIfFinished(coordinator, session.principal, scan);
    return c.html(
      <ScanPage scan={scan} diff={diff} nonce={c.var.nonce} csrf={session.csrf} who={session.principal.name} />,
    );
  })
  .get('/dashboard/scans/:id/events', async (c) => {
    // The scan page's live sections: the Coordinator's event stream of the scan, re-rendered per burst of events.
    const session = await currentSession(c);
    if (!session)
      throw new ScangateError(
        scanError('unauthorized', 'Not logged in to the dashboard', 'Log in at /dashboard with an admin token.'),
      );
    const id = c.req.param('id');
    if (!SCAN_ID_PATTERN.test(id)) throw new ScangateError(scanNotFound(id));
    const coordinator = getCoordinator(c.env, session.principal.pool);
    const load = async () => unwrap(await coordinator.getScan(session.principal, id));
    await load();
    const events = await coordinator.fetch(
      new Request(`https://coordinator/events/${id}`, {
        headers: { 'last-event-id': '0', 'x-token-id': session.principal.tokenId },
      }),
    );
    if (!events.ok || !events.body) throw new ScangateError(scanNotFound(id));
    const body = scanPageStream(events.body, async () => {
      const scan = await load();
      const diff = await diffIfFinished(coordinator, session.principal, scan);
      return { sections: await renderScanSections(scan, diff), ended: TERMINAL.has(scan.status) };
    });
    return new Response(body, {
      headers: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store' },
    });
  })
  .get('/dashboard/schedules', async (c) => {
    const session = await currentSession(c);
    if (!session) return c.redirect('/dashboard', 303);
    const coordinator = getCoordinator(c.env, session.principal.pool);
    const schedules = await coordinator.listSchedules();
    const changes: Record<string, ScanChanges | null> = {};
    await Promise.all(
      schedules.flatMap((s) =>
        s.lastScanId
          ? [
              coordinator.getScan(session.principal, s.lastScanId, { outputTailBytes: 0 }).then((got) => {
                changes[s.lastScanId!] = got.ok ? got.value.changes : null;
              }),
            ]
          : [],
      ),
    );
    const notice = c.req.query('notice')?.slice(0, 200);
    const error = c.req.query('error')?.slice(0, 300);
    return c.html(
      <SchedulesPage
        nonce={c.var.nonce}
        csrf={session.csrf}
        who={session.principal.name}
        schedules={schedules}
        changes={changes}
        {...(notice && { notice })}
        {...(error && { error })}
      />,
    );
  })
  .get('/dashboard/inventory', async (c) => {
    const session = await currentSession(c);
    if (!session) return c.redirect('/dashboard', 303);
    const pick = (name: string) => c.req.query(name)?.trim().slice(0, 128) || undefined;
    const filter = {
      ...(pick('cidr') && { cidr: pick('cidr') }),
      ...(pick('port') && { port: pick('port') }),
      ...(pick('service') && { service: pick('service') }),
      ...(pick('product') && { product: pick('product') }),
      ...(pick('versionBelow') && { versionBelow: pick('versionBelow') }),
    };
    const parsed = inventoryQuery({ ...filter, ...(pick('cursor') && { cursor: pick('cursor') }), limit: '100' });
    const props = { nonce: c.var.nonce, csrf: session.csrf, who: session.principal.name, filter };
    if (!parsed.ok)
      return c.html(<InventoryPage {...props} services={[]} nextCursor={null} error={parsed.error} />, 400);
    const found = await getCoordinator(c.env, session.principal.pool).inventory(session.principal, parsed.query);
    return c.html(<InventoryPage {...props} services={found.services} nextCursor={found.nextCursor} />);
  })
  .post('/dashboard/actions', async (c) => {
    if (!sameOrigin(c)) throw forbidden('Cross-origin action refused', 'Act from the dashboard page itself.');
    const session = await currentSession(c);
    if (!session)
      throw new ScangateError(
        scanError('unauthorized', 'Not logged in to the dashboard', 'Log in at /dashboard with an admin token.'),
      );
    const form = await postedForm(c);
    const sent = typeof form.csrf === 'string' && form.csrf ? form.csrf : c.req.header('x-csrf-token');
    if (!(await csrfValid(session, sent)))
      throw forbidden('Missing or wrong CSRF token', 'Reload the dashboard and try again.');
    // Enrollment answers with the code's page itself: a one-time secret goes in no redirect URL.
    if (form.action === 'runner-create' || form.action === 'runner-enroll')
      return enrollFromDashboard(c, session, form);
    const action = form.action as Action;
    const target = typeof form.target === 'string' ? form.target.slice(0, 128) : '';
    if (!ACTIONS.includes(action) || !target) {
      throw new ScangateError(
        scanError(
          'validation_error',
          `Unknown dashboard action ${String(form.action).slice(0, 40)}`,
          `Use one of ${ACTIONS.join(', ')}.`,
        ),
      );
    }
    const outcome = await perform(c, session, action, target, typeof form.value === 'string' ? form.value : '');
    const back =
      action === 'scan-cancel' && c.req.header('referer')?.includes(`/dashboard/scans/${target}`)
        ? `/dashboard/scans/${target}`
        : '/dashboard';
    if (back !== '/dashboard') return c.redirect(back, 303);
    const query = outcome.ok
      ? `notice=${encodeURIComponent(outcome.notice)}`
      : `error=${encodeURIComponent(`${outcome.error.message}. ${outcome.error.recoverySuggestion}`)}`;
    return c.redirect(`${action.startsWith('schedule-') ? '/dashboard/schedules' : '/dashboard'}?${query}`, 303);
  });

async function enrollFromDashboard(
  c: Context<DashEnv>,
  session: Session,
  form: Record<string, string | File>,
): Promise<Response> {
  const { principal } = session;
  const actor = `${principal.name} (dashboard)`;
  const target = typeof form.target === 'string' ? form.target.trim().slice(0, 128) : '';
  const networks = (typeof form.value === 'string' ? form.value.slice(0, 1024) : '').split(/[\s,]+/).filter(Boolean);
  const enrolled =
    form.action === 'runner-create'
      ? networks.length === 0 || !/^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$/.test(target)
        ? fail(
            scanError(
              'validation_error',
              'A runner needs a name (letters, digits, space, dot, underscore, hyphen) and at least one network',
              'Fill in both fields, e.g. lab-1 and 10.20.0.0/16.',
            ),
          )
        : await createEnrolledRunner(c.env, c.req.url, principal.pool, target, networks, actor)
      : await enrollRunner(c.env, c.req.url, principal.pool, target, actor);
  if (!enrolled.ok)
    return c.redirect(
      `/dashboard?error=${encodeURIComponent(`${enrolled.error.message}. ${enrolled.error.recoverySuggestion}`)}`,
      303,
    );
  return c.html(
    <EnrollmentPage enrolled={enrolled.value} nonce={c.var.nonce} csrf={session.csrf} who={principal.name} />,
  );
}

export async function nonceAndCsp(c: Context<DashEnv>, next: () => Promise<void>): Promise<void> {
  const nonce = randomToken(16);
  c.set('nonce', nonce);
  await next();
  c.res.headers.set('content-security-policy', csp(nonce, c.var.formTarget));
  c.res.headers.set('cache-control', 'no-store');
}
