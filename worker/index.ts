import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { bodyLimit } from 'hono/body-limit';
import { requestId } from 'hono/request-id';
import { secureHeaders } from 'hono/secure-headers';
import { httpStatusOf, ScangateError, scanError, type ErrorType, type ScanError } from '../shared/errors/index.ts';
import type { AppEnv } from './http/auth.ts';
import { dashboardApi } from './http/dashboard/dashboard.api.tsx';
import { mcpApi } from './http/mcp/mcp.api.ts';
import { consentApi } from './http/oauth/consent.api.tsx';
import { grantsApi } from './http/oauth/grants.api.ts';
import { oauthApi } from './http/oauth/server.ts';
import { adminApi } from './http/routes/admin.api.ts';
import { alertsApi } from './http/routes/alerts.api.ts';
import { enrollmentApi } from './http/routes/enrollment.api.ts';
import { opsApi } from './http/routes/ops.api.ts';
import { runnerDistApi } from './http/routes/runner-dist.api.ts';
import { scansApi } from './http/routes/scans.api.ts';
import { historyApi } from './http/routes/history.api.ts';
import { schedulesApi } from './http/routes/schedules.api.ts';

export { Coordinator } from './objects/coordinator.do.ts';
export { Directory } from './objects/directory.do.ts';

const app = new Hono<AppEnv>();

app.use(requestId());
// Not on the WebSocket upgrade: its response is the runtime's, and headers there only get in the way.
app.use(async function secureUnlessUpgrade(c, next) {
  if (c.req.path === '/v1/runners/connect') return next();
  // The dashboard and the OAuth consent page post forms to themselves: under no-referrer, Chrome would send `Origin: null` with them.
  if (c.req.path === '/dashboard' || c.req.path.startsWith('/dashboard/') || c.req.path === '/authorize')
    return secureHeaders({ referrerPolicy: 'same-origin' })(c, next);
  return secureHeaders()(c, next);
});

/**
 * Every request body is bounded here, before anything parses or stores it (a scan request is a few hundred bytes;
 * 64 KiB leaves room for MCP batches and policies). Chunked bodies without a length are counted as they stream.
 * Not exported: the entry module may export only handlers and Durable Object classes (workerd refuses others).
 */
const MAX_BODY_BYTES = 64 * 1024;
app.use(
  bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError() {
      throw new ScangateError(
        scanError(
          'payload_too_large',
          `The request body is larger than ${MAX_BODY_BYTES / 1024} KiB`,
          'Send a smaller body: split targets over several scans, or send fewer MCP calls per batch.',
          {
            details: { maxBytes: MAX_BODY_BYTES },
          },
        ),
      );
    },
  }),
);

app.route('/', opsApi);
app.route('/', mcpApi);
app.route('/', oauthApi);
app.route('/', consentApi);
app.route('/', grantsApi);
app.route('/', dashboardApi);
app.route('/', scansApi);
app.route('/', historyApi);
app.route('/', schedulesApi);
app.route('/', enrollmentApi);
app.route('/', adminApi);
app.route('/', alertsApi);
app.route('/', runnerDistApi);

app.notFound(() => {
  throw new ScangateError(scanError('not_found', 'No such endpoint', 'See the README for the API.'));
});

/** The one error handler: every error is `{ error: { type, message, recoverySuggestion, details? } }`. */
const TYPE_BY_STATUS: Record<number, ErrorType> = {
  400: 'validation_error',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  409: 'conflict',
  413: 'payload_too_large',
  429: 'rate_limited',
};

function toScanError(err: Error): ScanError | undefined {
  if (err instanceof ScangateError) return err.toJSON();
  // Hono's own (e.g. its validator on a body that is not JSON).
  const type = err instanceof HTTPException ? TYPE_BY_STATUS[err.status] : undefined;
  if (type)
    return scanError(
      type,
      err.message || 'Bad request',
      type === 'validation_error' ? 'Send a well-formed JSON body.' : 'See the README for the API.',
    );
  return undefined;
}

app.onError((err, c) => {
  const known = toScanError(err);
  const error =
    known ??
    scanError(
      'execution_error',
      `Internal error (request ${c.get('requestId')})`,
      'Retry; if it persists, report the request id.',
    );
  if (!known) console.error(JSON.stringify({ requestId: c.get('requestId'), error: String(err?.stack ?? err) }));
  if (error.retryAfterSec !== undefined) c.header('Retry-After', String(error.retryAfterSec));
  if (error.type === 'unauthorized') c.header('WWW-Authenticate', 'Bearer realm="scangate"');
  return c.json({ error }, httpStatusOf(error.type) as 400);
});

export default app;
