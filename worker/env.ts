import type { Coordinator } from './objects/coordinator.do.ts';
import type { Directory } from './objects/directory.do.ts';

/** Bindings of the scangate Worker (see wrangler.toml). */
export interface Env {
  COORDINATOR: DurableObjectNamespace<Coordinator>;
  DIRECTORY: DurableObjectNamespace<Directory>;
  /** The runner executables GET /install/runner serves (http/routes/runner-dist.api.ts), keyed by version. */
  RUNNER_DIST: R2Bucket;
  /** @cloudflare/workers-oauth-provider's storage (clients, grants, tokens by hash): http/oauth/server.ts. */
  OAUTH_KV: KVNamespace;
  /** Secret: bootstraps the first admin. Without it, only minted tokens work. */
  ADMIN_TOKEN?: string;
  /** Tunables (vars), as decimal strings. */
  LEASE_SEC?: string;
  HEARTBEAT_SEC?: string;
  QUEUE_MAX?: string;
  QUEUE_WAIT_SEC?: string;
  /** How long past a job's timeout its runner has to report its end before the edge fails it. */
  DEADLINE_GRACE_SEC?: string;
  /** Days an ended scan (its result, output and events) is kept before it is pruned. */
  JOB_RETENTION_DAYS?: string;
  /** Days an inventory host or service nobody has seen again is kept, and the most rows a pool keeps (per table). */
  INVENTORY_RETENTION_DAYS?: string;
  INVENTORY_MAX_ROWS?: string;
  /** Browser origins allowed on /mcp (comma-separated); requests without Origin always pass. */
  ALLOWED_ORIGINS?: string;
  /** The public origin the Worker is served at (e.g. https://scangate.example.org): allowed on /mcp too. */
  PUBLIC_ORIGIN?: string;
  /** Audit retention per kind (stores/audit.store.ts): newest rows kept and maximum age in days. */
  AUDIT_SECURITY_MAX_ROWS?: string;
  AUDIT_SECURITY_MAX_AGE_DAYS?: string;
  AUDIT_SCAN_MAX_ROWS?: string;
  AUDIT_SCAN_MAX_AGE_DAYS?: string;
  /** "1": alert webhooks may go over plain http to loopback literals (local development and the tests only). */
  ALLOW_LOOPBACK_WEBHOOKS?: string;
  /** Alert retry backoff base in ms (default 30000: cap 1 h, give up after 24 h; both scale with it). */
  ALERT_RETRY_BASE_MS?: string;
  /** How long one webhook attempt may take, in ms (default 10000). */
  ALERT_TIMEOUT_MS?: string;
}

type ScangateEnv = Env;
declare global {
  // Types `env` from `cloudflare:test` and `cloudflare:workers` as this Worker's own bindings.
  namespace Cloudflare {
    interface Env extends ScangateEnv {}
  }
}
