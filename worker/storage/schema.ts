import type { Migration } from './migrations.ts';

/** The Coordinator's SQLite schema. Append-only: never edit a migration that has shipped. */
export const COORDINATOR_MIGRATIONS: readonly Migration[] = [
  { version: 1, name: 'meta', sql: `CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)` },
  {
    version: 2,
    name: 'control plane',
    sql: `
      CREATE TABLE policy (id INTEGER PRIMARY KEY CHECK (id = 1), json TEXT NOT NULL, updated_at INTEGER NOT NULL);
      CREATE TABLE runners (
        id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, created_at INTEGER NOT NULL, revoked_at INTEGER,
        connected INTEGER NOT NULL DEFAULT 0, last_seen INTEGER, hello TEXT, breaker TEXT NOT NULL
      );
      CREATE TABLE jobs (
        id TEXT PRIMARY KEY, status TEXT NOT NULL, token_id TEXT NOT NULL, token_name TEXT NOT NULL,
        request TEXT NOT NULL, argv TEXT NOT NULL, targets TEXT NOT NULL, warnings TEXT NOT NULL,
        needs_privilege INTEGER NOT NULL, timeout_sec INTEGER NOT NULL, runner_id TEXT,
        created_at INTEGER NOT NULL, dispatched_at INTEGER, started_at INTEGER, finished_at INTEGER,
        queued_until INTEGER, lease_until INTEGER, last_seq INTEGER, next_eid INTEGER NOT NULL DEFAULT 1,
        progress TEXT, result TEXT, error TEXT, output_bytes INTEGER NOT NULL DEFAULT 0,
        idempotency_key TEXT, fingerprint TEXT
      );
      CREATE INDEX jobs_by_status ON jobs (status, created_at);
      CREATE INDEX jobs_by_runner ON jobs (runner_id, status);
      CREATE INDEX jobs_by_token ON jobs (token_id, created_at);
      CREATE UNIQUE INDEX jobs_idempotency ON jobs (token_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
      CREATE TABLE job_events (
        job_id TEXT NOT NULL, eid INTEGER NOT NULL, type TEXT NOT NULL, seq INTEGER, stream TEXT,
        data TEXT NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (job_id, eid)
      );
      CREATE UNIQUE INDEX job_output_seq ON job_events (job_id, seq) WHERE seq IS NOT NULL;
      CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
        decision TEXT NOT NULL, detail TEXT NOT NULL
      );
      CREATE TABLE counters (name TEXT NOT NULL, labels TEXT NOT NULL, value REAL NOT NULL, PRIMARY KEY (name, labels));
      CREATE TABLE rate_windows (token_id TEXT PRIMARY KEY, window_start INTEGER NOT NULL, count INTEGER NOT NULL);
    `,
  },
  {
    version: 3,
    name: 'mcp tasks',
    sql: `
      CREATE TABLE mcp_tasks (
        task_id TEXT PRIMARY KEY, token_id TEXT NOT NULL, scan_id TEXT, ttl_ms INTEGER, poll_interval_ms INTEGER NOT NULL,
        created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, status TEXT, status_message TEXT, result TEXT
      );
      CREATE INDEX mcp_tasks_by_token ON mcp_tasks (token_id, created_at);
    `,
  },
  {
    version: 4,
    name: 'runner network grants',
    // NULL for runners created before grants existed: they keep the pool policy's allowedNetworks until re-created.
    sql: `ALTER TABLE runners ADD COLUMN granted TEXT`,
  },
  {
    version: 5,
    name: 'audit split',
    // Security events and scan decisions get their own tables, so each has its own retention (stores/audit.store.ts).
    // Existing rows keep their ids and are classified by action as kindOf() does: `scan.*` is a scan decision,
    // everything else a security event. Refusals are aggregated from now on (agg_key); old rows stay single.
    sql: `
      CREATE TABLE audit_security (
        id INTEGER PRIMARY KEY, at INTEGER NOT NULL, last_at INTEGER NOT NULL, count INTEGER NOT NULL DEFAULT 1,
        actor TEXT NOT NULL, action TEXT NOT NULL, decision TEXT NOT NULL, detail TEXT NOT NULL, agg_key TEXT
      );
      CREATE UNIQUE INDEX audit_security_agg ON audit_security (agg_key);
      CREATE INDEX audit_security_at ON audit_security (at);
      CREATE TABLE audit_scan (
        id INTEGER PRIMARY KEY, at INTEGER NOT NULL, last_at INTEGER NOT NULL, count INTEGER NOT NULL DEFAULT 1,
        actor TEXT NOT NULL, action TEXT NOT NULL, decision TEXT NOT NULL, detail TEXT NOT NULL, agg_key TEXT
      );
      CREATE UNIQUE INDEX audit_scan_agg ON audit_scan (agg_key);
      CREATE INDEX audit_scan_at ON audit_scan (at);
      INSERT INTO audit_security (id, at, last_at, actor, action, decision, detail)
        SELECT id, at, at, actor, action, decision, detail FROM audit WHERE substr(action, 1, 5) <> 'scan.';
      INSERT INTO audit_scan (id, at, last_at, actor, action, decision, detail)
        SELECT id, at, at, actor, action, decision, detail FROM audit WHERE substr(action, 1, 5) = 'scan.';
      DROP TABLE audit;
    `,
  },
  {
    version: 6,
    name: 'edge output caps and runner conflicts',
    // Bytes are UTF-8 bytes per stream as stored at the edge; edge_truncated is a bit set (1 stdout, 2 stderr).
    // conflict is the latest refused second connection of a runner token (JSON: host, at, attempts).
    sql: `
      ALTER TABLE jobs ADD COLUMN stdout_bytes INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE jobs ADD COLUMN stderr_bytes INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE jobs ADD COLUMN output_frames INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE jobs ADD COLUMN edge_truncated INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE runners ADD COLUMN conflict TEXT;
    `,
  },
  {
    version: 7,
    name: 'inventory and scan history',
    // The pool's inventory (stores/inventory.store.ts): one row per token and host, and per token and service (a
    // port seen open), so a scan token's view is only what its own scans saw. addr_key sorts like the address
    // (domain/inventory.ts), so a CIDR is an index range. jobs_by_targets finds the previous scan of the same targets;
    // jobs.changes keeps what a succeeded scan changed since it (ScanChanges JSON).
    sql: `
      CREATE TABLE inventory_hosts (
        token_id TEXT NOT NULL, addr_key TEXT NOT NULL, address TEXT NOT NULL, hostnames TEXT NOT NULL,
        state TEXT NOT NULL, first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL, last_scan TEXT NOT NULL,
        last_probed_at INTEGER NOT NULL, last_probed_scan TEXT NOT NULL, PRIMARY KEY (token_id, addr_key)
      );
      CREATE INDEX inventory_hosts_by_addr ON inventory_hosts (addr_key);
      CREATE INDEX inventory_hosts_by_seen ON inventory_hosts (last_seen);
      CREATE TABLE inventory_services (
        token_id TEXT NOT NULL, addr_key TEXT NOT NULL, address TEXT NOT NULL, protocol TEXT NOT NULL,
        port INTEGER NOT NULL, state TEXT NOT NULL, service TEXT, product TEXT, version TEXT, cpe TEXT NOT NULL,
        scripts TEXT NOT NULL, first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL, last_scan TEXT NOT NULL,
        last_probed_at INTEGER NOT NULL, last_probed_scan TEXT NOT NULL,
        PRIMARY KEY (token_id, addr_key, protocol, port)
      );
      CREATE INDEX inventory_services_by_addr ON inventory_services (addr_key, protocol, port);
      CREATE INDEX inventory_services_by_port ON inventory_services (port, protocol);
      CREATE INDEX inventory_services_by_seen ON inventory_services (last_seen);
      CREATE INDEX jobs_by_targets ON jobs (targets, finished_at);
      ALTER TABLE jobs ADD COLUMN changes TEXT;
    `,
  },
  {
    version: 8,
    name: 'schedules',
    // Admin-owned scan schedules (stores/schedules.store.ts); a scheduled run is a normal job tagged with schedule_id.
    // paused_reason is set when a run is refused (a policy change made the request invalid), shown until resumed.
    sql: `
      CREATE TABLE schedules (
        id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, spec TEXT NOT NULL, enabled INTEGER NOT NULL,
        paused_reason TEXT, created_by TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
        next_run_at INTEGER, last_run_at INTEGER, last_scan_id TEXT, last_outcome TEXT
      );
      CREATE INDEX schedules_due ON schedules (enabled, next_run_at);
      ALTER TABLE jobs ADD COLUMN schedule_id TEXT;
      CREATE INDEX jobs_by_schedule ON jobs (schedule_id, created_at);
    `,
  },
  {
    version: 9,
    name: 'nmap xml',
    // nmap's XML is kept as rows of job_events (type 'xml', stream 'xml', ≤ 64 KiB each, seq'd with the output), so
    // no stored value nears a Durable Object's limits; xml_bytes is what the edge stored (its own cap), and bit 4 of
    // edge_truncated says the edge cut it. What the runner said of it is kept in jobs.result (JobResult.xml).
    sql: `ALTER TABLE jobs ADD COLUMN xml_bytes INTEGER NOT NULL DEFAULT 0`,
  },
  {
    version: 10,
    name: 'alerts',
    // Alert rules and their webhook deliveries (stores/alerts.store.ts). secret is the HMAC key, readable only inside
    // this object (it signs); the API shows secret_prefix, never the secret after creation. A delivery keeps the exact
    // body it sends (retries resend it, signed anew); status is pending until delivered or failed (given up).
    // alert_offline_sent remembers which absence of a runner a rule has already reported.
    sql: `
      CREATE TABLE alert_rules (
        id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, spec TEXT NOT NULL, secret TEXT NOT NULL,
        secret_prefix TEXT NOT NULL, created_by TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL
      );
      CREATE TABLE alert_deliveries (
        id INTEGER PRIMARY KEY AUTOINCREMENT, rule_id TEXT NOT NULL, event_id TEXT NOT NULL, event_type TEXT NOT NULL,
        title TEXT NOT NULL, body TEXT NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
        response_code INTEGER, last_error TEXT, created_at INTEGER NOT NULL, next_attempt_at INTEGER,
        last_attempt_at INTEGER, finished_at INTEGER
      );
      CREATE INDEX alert_deliveries_due ON alert_deliveries (status, next_attempt_at);
      CREATE INDEX alert_deliveries_by_rule ON alert_deliveries (rule_id, id);
      CREATE TABLE alert_offline_sent (
        rule_id TEXT NOT NULL, runner_id TEXT NOT NULL, since INTEGER NOT NULL, PRIMARY KEY (rule_id, runner_id)
      );
    `,
  },
];
