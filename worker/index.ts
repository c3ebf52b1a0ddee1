import { Hono } from 'hono';
import { requestId } from 'hono/request-id';
import { secureHeaders } from 'hono/secure-headers';
import { httpStatusOf, ScangateError, scanError } from '../shared/errors/index.ts';
import { requireRole, type AppEnv } from './auth.ts';
import { getCoordinator } from './coordinator.do.ts';
import { adminApi } from './routes/admin.api.ts';
import { scansApi } from './routes/scans.api.ts';

export { Coordinator } from './coordinator.do.ts';
export { Directory } from './directory.do.ts';

const app = new Hono<AppEnv>();

app.use(requestId());
// Not on the WebSocket upgrade: its response is the runtime's, and headers there only get in the way.
app.use(async function secureUnlessUpgrade(c, next) {
  if (c.req.path === '/v1/runners/connect') return next();
  return secureHeaders()(c, next);
});

app.get('/health', async (c) => {
  try {
    const coordinator = await getCoordinator(c.env).health();
    const checks = {
      coordinator: { ok: true, schemaVersion: coordinator.schemaVersion },
      runners: { ok: coordinator.runnersConnected > 0, connected: coordinator.runnersConnected },
      breakers: { ok: coordinator.breakersOpen === 0, open: coordinator.breakersOpen },
      queue: { ok: coordinator.queueDepth === 0, depth: coordinator.queueDepth },
    };
    const status = Object.values(checks).every((check) => check.ok) ? 'healthy' : 'degraded';
    return c.json({ status, checks });
  } catch (e) {
    return c.json({ status: 'unhealthy', checks: { coordinator: { ok: false, error: (e as Error).message } } }, 503);
  }
});

app.get('/metrics', requireRole('admin'), async (c) => {
  return c.text(await getCoordinator(c.env).metrics(), 200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
});

app.route('/', scansApi);
app.route('/', adminApi);

app.notFound(() => {
  throw new ScangateError(scanError('not_found', 'No such endpoint', 'See the README for the API.'));
});

/** The one error handler: every error is `{ error: { type, message, recoverySuggestion, details? } }`. */
app.onError((err, c) => {
  const error =
    err instanceof ScangateError
      ? err.toJSON()
      : scanError('execution_error', `Internal error (request ${c.get('requestId')})`, 'Retry; if it persists, report the request id.');
  if (!(err instanceof ScangateError)) console.error(JSON.stringify({ requestId: c.get('requestId'), error: String(err?.stack ?? err) }));
  if (error.retryAfterSec !== undefined) c.header('Retry-After', String(error.retryAfterSec));
  if (error.type === 'unauthorized') c.header('WWW-Authenticate', 'Bearer realm="scangate"');
  return c.json({ error }, httpStatusOf(error.type) as 400);
});

export default app;
