import { DurableObject } from 'cloudflare:workers';
import { scanError, type JsonObject, type JsonValue, type ScanError } from '../shared/errors/index.ts';
import { canonicalNetwork, DEFAULT_POLICY, networkWithin, resolvePolicy, validateScanRequest, type Policy, type PolicyClamp, type Target, type ValidationResult } from '../shared/policy/index.ts';
import {
  encodeEdgeFrame,
  finishedAckSeq,
  parseRunnerFrame,
  PING_FRAME,
  PONG_FRAME,
  SUPPORTED_PROTOCOLS,
  type EdgeMessage,
  type Hello,
  type JobFinished,
  type RunnerMessage,
} from '../shared/protocol/index.ts';
import type { Principal } from './auth.ts';
import * as breakers from './breaker.ts';
import type { Env } from './env.ts';
import { chooseRunner, type RunnerView } from './routing.ts';
import { admitOutput, frameBudget } from './output-caps.ts';
import { decideSecondHello, noteConflict } from './link-conflict.ts';
import { applyMigrations } from './storage/migrations.ts';
import { AuditStore, auditRetention, excerpt, type AuditEntry, type AuditQuery } from './stores/audit.store.ts';
import { TERMINAL, type Scan } from '../shared/scan/index.ts';
import { JobStore, toScan, type EventType, type JobResult, type JobRow, type StoredEvent } from './stores/jobs.store.ts';
import { Counters } from './stores/metrics.ts';
import { COORDINATOR_MIGRATIONS } from './stores/schema.ts';
import { RunnerStore, type RunnerRecord } from './stores/runners.store.ts';
import { TaskStore, type McpTask } from './stores/tasks.store.ts';
import { McpTaskService } from './mcp/tasks.service.ts';
import type { ToolResult } from './mcp/results.ts';
import { newId } from './tokens.ts';
import type { Result } from './domain/result.ts';
import { breakerRows, perMinute, runnerRows, scanRows, type DashboardData } from './dashboard/data.ts';
import { DashboardHub } from './dashboard/hub.ts';
import { renderSections } from './dashboard/views.tsx';

/**
 * The coordinator of one runner pool: its runners' sockets (WebSocket Hibernation API), breakers, queue, jobs
 * and their output, the pool's policy, audit and metrics. A second pool is a second object, so nothing here is
 * global. Decisions are made by the pure modules (policy, routing, breaker); this class stores and relays.
 * It is longer than our other files because a Durable Object's RPC surface must be its own methods; the logic
 * behind them lives in stores/, routing.ts, breaker.ts, dashboard/ and mcp/tasks.service.ts.
 */
export interface ScanRequestBody {
  target: string | string[];
  args?: string | string[];
  template?: string;
  timeoutSec?: number;
}

interface SocketAttachment {
  runnerId: string;
  helloed: boolean;
  /** The instance and host named in hello (null for a runner that names none). */
  instanceId?: string | null;
  host?: string | null;
  openedAt?: number;
}

const ok = <T,>(value: T): Result<T> => ({ ok: true, value });
const fail = (error: ScanError): { ok: false; error: ScanError } => ({ ok: false, error });
const encoder = new TextEncoder();
/** Stored events written per page when a stream catches up. */
const EVENT_PAGE = 256;
/** Output kept inline in a scan read over RPC (the dashboard, MCP); REST pages through the rest with readOutput. */
const INLINE_OUTPUT_BYTES = 1024 * 1024;
/** Output per readOutput page: well under the RPC limit even when every character needs two bytes in transit. */
const OUTPUT_PAGE_BYTES = 2 * 1024 * 1024;

export class Coordinator extends DurableObject<Env> {
  readonly #sql: SqlStorage;
  readonly #jobs: JobStore;
  readonly #runners: RunnerStore;
  readonly #audit: AuditStore;
  readonly #counters: Counters;
  readonly #mcpTasks: McpTaskService;
  readonly #dashboard = new DashboardHub(() => this.#dashboardFrame());
  readonly #schemaVersion: number;
  /** Wakes watchers of a job on each of its events. */
  readonly #eventWaiters = new Map<string, Set<() => void>>();
  /**
   * Open scan event streams: job id → each stream's writer → the token that opened it (revocation ends its own) and
   * whether it is live (new events are written to it) or still paging through the stored history.
   */
  readonly #streams = new Map<string, Map<WritableStreamDefaultWriter<Uint8Array>, { owner: string; live: boolean }>>();
  readonly #waiters = new Map<string, Set<() => void>>();
  #policy: Policy;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    this.#schemaVersion = applyMigrations(this.#sql, COORDINATOR_MIGRATIONS);
    this.#jobs = new JobStore(this.#sql);
    this.#runners = new RunnerStore(this.#sql);
    this.#audit = new AuditStore(this.#sql, auditRetention(env));
    this.#counters = new Counters(this.#sql);
    this.#mcpTasks = new McpTaskService(new TaskStore(this.#sql), this.#jobs, (principal, scanId) => this.cancelScan(principal, scanId));
    this.#sql.exec(`INSERT INTO meta (key, value) VALUES ('started_at', ?) ON CONFLICT(key) DO NOTHING`, new Date().toISOString());
    const stored = this.#sql.exec<{ json: string }>('SELECT json FROM policy WHERE id = 1').toArray()[0];
    const resolved = stored ? resolvePolicy(JSON.parse(stored.json)) : undefined;
    this.#policy = resolved?.ok ? resolved.policy : structuredClone(DEFAULT_POLICY) as Policy;
    // Heartbeats are answered without waking the object.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING_FRAME, PONG_FRAME));
    void ctx.blockConcurrencyWhile(() => this.#reconcileSockets());
  }

  /**
   * After a restart of the object (a deploy, a crash, `wrangler dev` restarted) sockets are gone without a close
   * event. Runners still marked connected with no socket are marked down and their jobs get a lease, so they are
   * either resumed on reconnect or become runner_lost, never stuck. (After hibernation the sockets are still here.)
   */
  async #reconcileSockets(): Promise<void> {
    const now = Date.now();
    let changed = false;
    for (const runner of this.#runners.list()) {
      if (!runner.connected || this.#linksOf(runner.id).length > 0) continue;
      this.#runners.disconnected(runner.id, now);
      this.#leaseJobsOf(runner.id, now);
      changed = true;
    }
    if (changed) await this.#schedule();
  }

  // ── settings ────────────────────────────────────────────────────────────────────────────────────────

  #setting(name: 'LEASE_SEC' | 'HEARTBEAT_SEC' | 'QUEUE_MAX' | 'QUEUE_WAIT_SEC' | 'DEADLINE_GRACE_SEC' | 'JOB_RETENTION_DAYS', fallback: number): number {
    const value = Number(this.env[name]);
    return Number.isFinite(value) && value > 0 ? value : fallback;
  }

  // ── health, policy, audit, metrics ──────────────────────────────────────────────────────────────────

  health(): { schemaVersion: number; startedAt: string; runnersConnected: number; breakersOpen: number; queueDepth: number } {
    const runners = this.#runners.list().filter((r) => !r.revokedAt);
    return {
      schemaVersion: this.#schemaVersion,
      startedAt: this.#sql.exec<{ value: string }>(`SELECT value FROM meta WHERE key = 'started_at'`).one().value,
      runnersConnected: runners.filter((r) => r.connected).length,
      breakersOpen: runners.filter((r) => r.breaker.state === 'OPEN').length,
      queueDepth: this.#jobs.byStatus(['queued']).length,
    };
  }

  getPolicy(): Policy {
    return this.#policy;
  }

  putPolicy(input: JsonValue, actor: string): Result<{ policy: Policy; clamps: PolicyClamp[] }> {
    const resolved = resolvePolicy(input, this.#policy);
    if (!resolved.ok) {
      this.#audit.record(actor, 'policy.update', 'refused', { reason: resolved.error.message });
      return fail(resolved.error);
    }
    const before = this.#policy;
    this.#policy = resolved.policy;
    this.#sql.exec('INSERT INTO policy (id, json, updated_at) VALUES (1, ?, ?) ON CONFLICT(id) DO UPDATE SET json = excluded.json, updated_at = excluded.updated_at', JSON.stringify(resolved.policy), Date.now());
    this.#audit.record(actor, 'policy.update', 'accepted', { input, clamps: resolved.clamps, before, after: resolved.policy });
    this.#dashboard.notify();
    return ok({ policy: resolved.policy, clamps: resolved.clamps });
  }

  audit(query: AuditQuery): { entries: AuditEntry[]; nextCursor: string | null } {
    return this.#audit.page(query);
  }

  recordAudit(actor: string, action: string, decision: string, detail: JsonObject): void {
    this.#audit.record(actor, action, decision, detail);
  }

  /** This pool's counters and gauges, unrendered: the Worker labels them with the pool and renders every pool at once. */
  metricSamples(): Array<{ name: string; labels: string; value: number }> {
    const samples = this.#counters.all();
    const runners = this.#runners.list().filter((r) => !r.revokedAt);
    for (const r of runners) {
      for (const state of ['CLOSED', 'OPEN', 'HALF_OPEN'] as const) {
        samples.push({ name: 'scangate_breaker_state', labels: `{runner="${r.name}",state="${state}"}`, value: r.breaker.state === state ? 1 : 0 });
      }
    }
    samples.push({ name: 'scangate_runners_connected', labels: '', value: runners.filter((r) => r.connected).length });
    samples.push({ name: 'scangate_queue_depth', labels: '', value: this.#jobs.byStatus(['queued']).length });
    return samples;
  }

  // ── scans ───────────────────────────────────────────────────────────────────────────────────────────

  validate(body: ScanRequestBody): Result<Omit<Extract<ValidationResult, { ok: true }>, 'ok'>> {
    const result = validateScanRequest(body, this.#policy);
    if (!result.ok) return fail(result.error);
    const { ok: _ok, ...value } = result;
    return ok(value);
  }

  async createScan(principal: Principal, body: ScanRequestBody, options: { idempotencyKey?: string; waitSec?: number } = {}): Promise<Result<{ scan: Scan; created: boolean }>> {
    const now = Date.now();
    const fingerprint = JSON.stringify([body.target, body.args ?? null, body.template ?? null, body.timeoutSec ?? null]);
    if (options.idempotencyKey) {
      const existing = this.#jobs.byIdempotencyKey(principal.tokenId, options.idempotencyKey);
      if (existing) {
        if (existing.fingerprint !== fingerprint) {
          return fail(scanError('conflict', 'This Idempotency-Key was used for a different scan request', 'Use a new Idempotency-Key for a new request.'));
        }
        return ok({ scan: await this.#waitIfAsked(existing.id, options.waitSec), created: false });
      }
    }
    const limited = this.#rateLimit(principal.tokenId, now);
    if (limited) return this.#refuse(principal, body, limited);

    const validation = validateScanRequest(body, this.#policy);
    if (!validation.ok) return this.#refuse(principal, body, validation.error);
    const timeoutSec = body.timeoutSec ?? this.#policy.defaultTimeoutSec;

    const load = this.#jobs.tokenLoad(principal.tokenId);
    const decision = chooseRunner({ targets: validation.targets, needsPrivilege: validation.needsPrivilege, share: { running: load.running, ...this.#policy.perToken } }, this.#liveRunners(), now);
    if (decision.kind === 'refuse') return this.#refuse(principal, body, decision.error);
    if (decision.kind === 'queue') {
      const full = this.#queueRefusal(load.queued);
      if (full) return this.#refuse(principal, body, full);
    }

    const id = newId('scan');
    this.#jobs.insert({
      id,
      status: 'queued',
      token_id: principal.tokenId,
      token_name: principal.name,
      request: JSON.stringify(body),
      argv: JSON.stringify(validation.argv),
      targets: JSON.stringify(validation.targets),
      warnings: JSON.stringify(validation.warnings),
      needs_privilege: validation.needsPrivilege ? 1 : 0,
      timeout_sec: timeoutSec,
      created_at: now,
      idempotency_key: options.idempotencyKey ?? null,
      fingerprint,
    });
    this.#audit.record(principal.name, 'scan.create', 'accepted', { scanId: id, tokenId: principal.tokenId, targets: validation.targets.map((t) => t.value), argv: validation.argv });
    this.#event(id, 'queued', { status: 'queued' });
    if (decision.kind === 'dispatch') this.#dispatch(this.#jobs.get(id)!, decision.runnerId);
    else this.#jobs.update(id, { queued_until: now + this.#setting('QUEUE_WAIT_SEC', 30) * 1000 });
    await this.#schedule();
    return ok({ scan: await this.#waitIfAsked(id, options.waitSec), created: true });
  }

  /** Why a scan may not join the queue: the queue is full, or this token holds its share of it already. */
  #queueRefusal(queuedByToken: number): ScanError | undefined {
    const retryAfterSec = this.#setting('QUEUE_WAIT_SEC', 30);
    const mine = this.#policy.perToken.maxQueuedScans;
    if (queuedByToken >= mine) {
      return scanError('rate_limited', `This token has ${queuedByToken} scans waiting in the queue, its share (policy perToken.maxQueuedScans = ${mine})`, 'Wait for your queued scans to start, or cancel some.', { retryAfterSec });
    }
    if (this.#jobs.byStatus(['queued']).length >= this.#setting('QUEUE_MAX', 32)) {
      return scanError('rate_limited', 'Every runner for these targets is busy and the queue is full', 'Retry in a little while.', { retryAfterSec });
    }
    return undefined;
  }

  #refuse(principal: Principal, body: ScanRequestBody, error: ScanError): { ok: false; error: ScanError } {
    // The request was refused, so it was never validated: only a bounded excerpt of it is kept.
    this.#audit.record(principal.name, 'scan.create', 'refused', { tokenId: principal.tokenId, target: excerpt(body.target), args: excerpt(body.args ?? null), template: excerpt(body.template ?? null), reason: error.type, message: error.message.slice(0, 500) });
    this.#counters.add('scangate_rejections_total', { reason: error.type });
    return fail(error);
  }

  #rateLimit(tokenId: string, now: number): ScanError | undefined {
    const limit = this.#policy.rateLimitPerMinute;
    const row = this.#sql.exec<{ window_start: number; count: number }>('SELECT window_start, count FROM rate_windows WHERE token_id = ?', tokenId).toArray()[0];
    if (!row || now - row.window_start >= 60_000) {
      this.#sql.exec('INSERT INTO rate_windows (token_id, window_start, count) VALUES (?, ?, 1) ON CONFLICT(token_id) DO UPDATE SET window_start = excluded.window_start, count = 1', tokenId, now);
      return undefined;
    }
    if (row.count >= limit) {
      const retryAfterSec = Math.max(1, Math.ceil((row.window_start + 60_000 - now) / 1000));
      return scanError('rate_limited', `This token has started ${limit} scans in the last minute, its limit`, `Retry in ${retryAfterSec} s.`, { retryAfterSec });
    }
    this.#sql.exec('UPDATE rate_windows SET count = count + 1 WHERE token_id = ?', tokenId);
    return undefined;
  }

  /** Resolves when `#wake(waiters, id)` runs or `ms` passes, whichever comes first. */
  #sleepUntilWoken(waiters: Map<string, Set<() => void>>, id: string, ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const set = waiters.get(id) ?? new Set();
      const timer = setTimeout(wake, ms);
      function wake() {
        clearTimeout(timer);
        set.delete(wake);
        resolve();
      }
      set.add(wake);
      waiters.set(id, set);
    });
  }

  #wake(waiters: Map<string, Set<() => void>>, id: string): void {
    for (const wake of waiters.get(id) ?? []) wake();
    waiters.delete(id);
  }

  async #waitIfAsked(id: string, waitSec = 0): Promise<Scan> {
    const row = this.#jobs.get(id)!;
    if (waitSec > 0 && !TERMINAL.has(row.status)) await this.#sleepUntilWoken(this.#waiters, id, Math.min(waitSec, 60) * 1000);
    return toScan(this.#jobs.get(id)!);
  }

  #visible(principal: Principal, row: JobRow | undefined): row is JobRow {
    return row !== undefined && (principal.role === 'admin' || row.token_id === principal.tokenId);
  }

  /**
   * A scan with the tail of its output (at most `outputTailBytes`, 1 MiB by default; `outputOmittedBytes` says how
   * much came before it). The whole output, at any size the policy allows, is read with readOutput.
   */
  getScan(principal: Principal, id: string, options: { outputTailBytes?: number } = {}): Result<Scan & { output: string; outputOmittedBytes: number }> {
    const row = this.#jobs.get(id);
    if (!this.#visible(principal, row)) return fail(scanError('not_found', `No scan ${id}`, 'List your scans with GET /v1/scans.'));
    const tail = this.#jobs.outputTail(id, Math.min(options.outputTailBytes ?? INLINE_OUTPUT_BYTES, INLINE_OUTPUT_BYTES), row.output_bytes);
    return ok({ ...toScan(row), output: tail.data, outputOmittedBytes: tail.omittedBytes });
  }

  /** One page of a scan's output after `afterSeq` (0 for the start); `nextSeq` null when it is all read. */
  readOutput(principal: Principal, id: string, afterSeq: number): Result<{ data: string; nextSeq: number | null }> {
    const row = this.#jobs.get(id);
    if (!this.#visible(principal, row)) return fail(scanError('not_found', `No scan ${id}`, 'List your scans with GET /v1/scans.'));
    return ok(this.#jobs.outputPage(id, afterSeq, OUTPUT_PAGE_BYTES));
  }

  listScans(principal: Principal, filter: { status?: Scan['status']; limit: number; cursor?: string; mine?: boolean }): { scans: Scan[]; nextCursor: string | null } {
    const tokenId = principal.role === 'admin' && !filter.mine ? undefined : principal.tokenId;
    return this.#jobs.list({ limit: filter.limit, ...(tokenId && { tokenId }), ...(filter.status && { status: filter.status }), ...(filter.cursor && { before: filter.cursor }) });
  }

  async cancelScan(principal: Principal, id: string): Promise<Result<Scan>> {
    const row = this.#jobs.get(id);
    if (!this.#visible(principal, row)) return fail(scanError('not_found', `No scan ${id}`, 'List your scans with GET /v1/scans.'));
    if (TERMINAL.has(row.status)) return fail(scanError('conflict', `Scan ${id} has already ended (${row.status})`, 'Nothing to cancel.'));
    this.#audit.record(principal.name, 'scan.cancel', 'accepted', { scanId: id });
    if (row.status === 'queued') {
      this.#finishJob(row, 'cancelled', null, scanError('cancelled', 'Cancelled before it started', 'Start a new scan if needed.'));
    } else if (row.runner_id) {
      this.#sendTo(row.runner_id, { type: 'job.cancel', jobId: id });
    }
    await this.#schedule();
    return ok(toScan(this.#jobs.get(id)!));
  }

  /**
   * A scan's state without its output, once it has an event newer than `afterEid` (or ends, or `waitMs` passes).
   * For callers that relay progress as it happens (the MCP tool).
   */
  async watchScan(principal: Principal, id: string, afterEid: number, waitMs: number): Promise<Result<{ scan: Scan; lastEid: number }>> {
    const row = this.#jobs.get(id);
    if (!this.#visible(principal, row)) return fail(scanError('not_found', `No scan ${id}`, 'List your scans with GET /v1/scans.'));
    const lastEid = () => this.#jobs.get(id)!.next_eid - 1;
    if (lastEid() <= afterEid && !TERMINAL.has(row.status) && waitMs > 0) await this.#sleepUntilWoken(this.#eventWaiters, id, Math.min(waitMs, 60_000));
    return ok({ scan: toScan(this.#jobs.get(id)!), lastEid: lastEid() });
  }

  // ── MCP tasks ───────────────────────────────────────────────────────────────────────────────────────

  mcpTaskCreate(principal: Principal, options: { scanId: string | null; ttl: number | null; pollInterval: number; result: ToolResult | null }): McpTask {
    return this.#mcpTasks.create(principal, options);
  }

  mcpTaskGet(principal: Principal, taskId: string): McpTask | null {
    return this.#mcpTasks.get(principal, taskId);
  }

  /** The task's tool result once it has ended, else null. */
  mcpTaskResult(principal: Principal, taskId: string): ToolResult | null {
    return this.#mcpTasks.result(principal, taskId);
  }

  mcpTaskCancel(principal: Principal, taskId: string): Promise<McpTask | null> {
    return this.#mcpTasks.cancel(principal, taskId);
  }

  mcpTaskList(principal: Principal, cursor?: string): { tasks: McpTask[]; nextCursor?: string } {
    return this.#mcpTasks.list(principal, cursor);
  }

  /** Forgets what this object caches from its storage; for tests and tools that edit storage directly. */
  dropCaches(): void {
    this.#runners.forget();
  }

  // ── dashboard ───────────────────────────────────────────────────────────────────────────────────────

  /** Everything the dashboard shows, as of now. */
  dashboardData(): DashboardData {
    const now = Date.now();
    const runners = this.#runners.list();
    return {
      now,
      allowIntrusive: this.#policy.allowIntrusive,
      queueDepth: this.#jobs.byStatus(['queued']).length,
      runners: runnerRows(this.listRunners(), now),
      breakers: breakerRows(runners, this.#policy.breaker.failureThreshold),
      scans: scanRows(this.#jobs.list({ limit: 25 }).scans),
      perMinute: perMinute(this.#jobs.endedSince(now - 3_600_000), now),
    };
  }

  async #dashboardFrame(): Promise<string> {
    const data = this.dashboardData();
    return `event: snapshot\ndata: ${JSON.stringify({ now: data.now, sections: await renderSections(data) })}\n\n`;
  }

  // ── runners and breakers ────────────────────────────────────────────────────────────────────────────

  /** A runner may serve only the networks granted here (canonical CIDRs inside the pool's allowed networks). */
  createRunner(id: string, name: string, networks: readonly string[], actor: string): Result<RunnerRecord> {
    if (this.#runners.find(name)) return fail(scanError('conflict', `A runner named ${name} exists already`, 'Choose another name, or revoke the old runner first.'));
    for (const network of networks) {
      const canonical = canonicalNetwork(network);
      if (canonical !== network) {
        return fail(scanError('validation_error', `${network} is not a canonical CIDR network`, `Write it as ${typeof canonical === 'string' ? canonical : 'a network address with its prefix, e.g. 10.20.0.0/16'}.`, { details: { network } }));
      }
      if (!this.#policy.allowedNetworks.some((allowed) => networkWithin(network, allowed))) {
        return fail(scanError('validation_error', `${network} is not inside the pool's allowed networks`, `Grant networks inside ${this.#policy.allowedNetworks.join(', ')}.`, { details: { network } }));
      }
    }
    this.#runners.insert(id, name, networks, breakers.newBreaker(this.#policy.breaker), Date.now());
    this.#audit.record(actor, 'runner.create', 'accepted', { runnerId: id, name, networks });
    this.#dashboard.notify();
    return ok(this.#runners.get(id)!);
  }

  runner(id: string): RunnerRecord | undefined {
    return this.#runners.get(id);
  }

  listRunners(): Array<RunnerRecord & { running: number }> {
    const active = this.#jobs.activeCounts();
    return this.#runners.list().map((r) => ({ ...r, running: active.get(r.id) ?? 0 }));
  }

  /** Revokes a runner and cuts its link at once. */
  async revokeRunner(idOrName: string, actor: string): Promise<Result<RunnerRecord>> {
    const runner = this.#runners.find(idOrName);
    if (!runner) return fail(scanError('not_found', `No runner ${idOrName}`, 'List runners with GET /v1/runners.'));
    const now = Date.now();
    this.#runners.revoke(runner.id, now);
    this.#dashboard.notify();
    for (const ws of this.ctx.getWebSockets(runner.id)) {
      this.#send(ws, { type: 'error', code: 'revoked', message: 'This runner was revoked by an admin', recoverySuggestion: 'Ask an admin for a new runner token.' });
      ws.close(4003, 'revoked');
    }
    this.#leaseJobsOf(runner.id, now);
    this.#audit.record(actor, 'runner.revoke', 'accepted', { runnerId: runner.id, name: runner.name });
    await this.#schedule();
    return ok(this.#runners.get(runner.id)!);
  }

  /**
   * Ends every live stream a token opened (scan events, the dashboard), at once: called when the token is revoked,
   * so a revoked token reads nothing more. Returns how many were closed.
   */
  closeStreamsOf(tokenId: string): number {
    let closed = 0;
    for (const writers of this.#streams.values()) {
      for (const [writer, { owner }] of writers) {
        if (owner !== tokenId) continue;
        writers.delete(writer);
        void writer.close().catch(() => {});
        closed++;
      }
    }
    return closed + this.#dashboard.closeOwnedBy(tokenId);
  }

  listBreakers(): Array<{ runnerId: string; runner: string; breaker: breakers.Breaker; threshold: number }> {
    return this.#runners
      .list()
      .filter((r) => !r.revokedAt)
      .map((r) => ({ runnerId: r.id, runner: r.name, breaker: r.breaker, threshold: this.#policy.breaker.failureThreshold }));
  }

  async breakerAction(idOrName: string, action: 'reset' | 'open' | 'close', actor: string): Promise<Result<breakers.Breaker>> {
    const runner = this.#runners.find(idOrName);
    if (!runner || runner.revokedAt) return fail(scanError('not_found', `No breaker for runner ${idOrName}`, 'List breakers with GET /v1/breakers.'));
    const now = Date.now();
    const next =
      action === 'reset' ? breakers.reset(runner.breaker, now, this.#policy.breaker) : action === 'open' ? breakers.forceOpen(runner.breaker, now) : breakers.forceClose(runner.breaker, now);
    this.#setBreaker(runner, next);
    this.#audit.record(actor, `breaker.${action}`, 'accepted', { runnerId: runner.id, runner: runner.name, from: runner.breaker.state, to: next.state });
    this.#drainQueue();
    await this.#schedule();
    return ok(next);
  }

  #setBreaker(runner: RunnerRecord, next: breakers.Breaker): void {
    this.#dashboard.notify();
    if (next.state !== runner.breaker.state) this.#counters.add('scangate_breaker_transitions_total', { runner: runner.name, to: next.state });
    this.#runners.setBreaker(runner.id, next);
    runner.breaker = next;
  }

  #liveRunners(): RunnerView[] {
    const active = this.#jobs.activeCounts();
    return this.#runners
      .list()
      .filter((r) => r.connected && !r.revokedAt && r.hello && this.#linksOf(r.id).length > 0)
      .map((r) => ({
        id: r.id,
        name: r.name,
        networks: r.hello!.networks,
        privileged: r.hello!.privileged,
        maxConcurrency: r.hello!.maxConcurrency,
        running: active.get(r.id) ?? 0,
        breaker: r.breaker,
      }));
  }

  // ── dispatch, queue, results ────────────────────────────────────────────────────────────────────────

  #dispatch(row: JobRow, runnerId: string): void {
    const runner = this.#runners.get(runnerId)!;
    const now = Date.now();
    this.#jobs.update(row.id, { status: 'dispatched', runner_id: runnerId, dispatched_at: now, queued_until: null });
    this.#setBreaker(runner, breakers.onDispatch(runner.breaker, row.id));
    const p = this.#policy;
    this.#sendTo(runnerId, {
      type: 'job.dispatch',
      jobId: row.id,
      argv: JSON.parse(row.argv) as string[],
      timeoutSec: row.timeout_sec,
      policy: { allowedHostSuffixes: p.allowedHostSuffixes, allowIntrusive: p.allowIntrusive, allowEvasion: p.allowEvasion, maxHosts: p.maxHosts, maxTargets: p.maxTargets, maxPortRanges: p.maxPortRanges },
      limits: { stdoutMaxBytes: p.output.stdoutMaxBytes, stderrMaxBytes: p.output.stderrMaxBytes },
    });
    this.#event(row.id, 'dispatched', { runnerId, runner: runner.name });
  }

  /**
   * Sends queued jobs to runners that can take them now, oldest first; a job whose token already runs its share
   * waits while younger jobs of other tokens go ahead. Jobs past their queue time fail, saying which wait it was.
   */
  #drainQueue(): void {
    const now = Date.now();
    for (const row of this.#jobs.byStatus(['queued'])) {
      const share = { running: this.#jobs.tokenLoad(row.token_id).running, ...this.#policy.perToken };
      const decision = chooseRunner({ targets: JSON.parse(row.targets) as Target[], needsPrivilege: row.needs_privilege === 1, share }, this.#liveRunners(), now);
      if (decision.kind === 'dispatch') {
        this.#dispatch(row, decision.runnerId);
      } else if (row.queued_until !== null && row.queued_until <= now) {
        this.#finishJob(row, 'failed', null, decision.kind === 'queue' && decision.reason === 'token_share'
          ? scanError('rate_limited', `This token's own running scans held its share of the runners (${decision.limit} at once) while this scan waited`, 'Wait for your running scans to finish or cancel one, then start it again; an admin can raise policy perToken limits.')
          : scanError('no_runner', 'Every runner for these targets stayed busy while the scan waited', 'Retry later, or add runner capacity (--max-concurrency).'));
      } else if (decision.kind === 'refuse' && decision.error.type !== 'circuit_breaker_open') {
        this.#finishJob(row, 'failed', null, decision.error);
      }
    }
  }

  #finishJob(row: JobRow, status: 'succeeded' | 'failed' | 'cancelled' | 'rejected', result: JobResult | null, error: ScanError | null, lastSeq?: number): void {
    const now = Date.now();
    this.#jobs.update(row.id, {
      status,
      finished_at: now,
      lease_until: null,
      queued_until: null,
      result: result ? JSON.stringify(result) : null,
      error: error ? JSON.stringify(error) : null,
      ...(lastSeq !== undefined && { last_seq: lastSeq }),
    });
    this.#counters.add('scangate_scans_total', { outcome: status === 'failed' && error ? error.type : status });
    if (row.dispatched_at) this.#counters.observeDuration((now - row.dispatched_at) / 1000);
    this.#audit.record(row.token_name, 'scan.finish', status, { scanId: row.id, runnerId: row.runner_id, exitCode: result?.exitCode ?? null, error: error?.type ?? null });
    this.#event(row.id, 'finished', { status, exitCode: result?.exitCode ?? null, error });
    // Streams still paging through the history close themselves when they reach the end.
    for (const [writer, stream] of this.#streams.get(row.id) ?? []) {
      if (!stream.live) continue;
      void writer.close().catch(() => {});
      this.#streams.get(row.id)?.delete(writer);
    }
    this.#wake(this.#waiters, row.id);
  }

  /** Applies a job's end to its runner's breaker. */
  #judge(row: JobRow, verdict: 'success' | 'failure' | 'neutral', error?: ScanError): void {
    if (!row.runner_id) return;
    const runner = this.#runners.get(row.runner_id);
    if (!runner) return;
    const now = Date.now();
    const next =
      verdict === 'success'
        ? breakers.onSuccess(runner.breaker, now, row.id, this.#policy.breaker)
        : verdict === 'failure'
          ? breakers.onFailure(runner.breaker, now, row.id, error!, this.#policy.breaker)
          : breakers.onProbeAbandoned(runner.breaker, row.id);
    this.#setBreaker(runner, next);
  }

  #onFinished(message: JobFinished): void {
    const row = this.#jobs.get(message.jobId);
    if (!row || TERMINAL.has(row.status)) return;
    // Output still missing: keep waiting for the resend before taking the result.
    if (this.#jobs.contiguousSeq(row.id) < message.lastSeq) return;
    const result: JobResult = { exitCode: message.exitCode, signal: message.signal, timedOut: message.timedOut, cancelled: message.cancelled, durationMs: message.durationMs, truncated: message.truncated, report: message.report };
    let error: ScanError | undefined;
    if (message.cancelled) {
      this.#finishJob(row, 'cancelled', result, scanError('cancelled', 'The scan was cancelled', 'Start a new scan if needed.'), message.lastSeq);
    } else if (message.error || message.timedOut || message.exitCode !== 0) {
      error =
        message.error ??
        (message.timedOut
          ? scanError('timeout', `The scan ran past its ${row.timeout_sec} s timeout and was stopped`, 'Scan fewer hosts or ports, or give a longer timeoutSec.')
          : scanError('execution_error', `nmap exited with ${message.exitCode ?? message.signal}`, 'Read the scan output for nmap\'s own message.'));
      this.#finishJob(row, 'failed', result, error, message.lastSeq);
    } else {
      this.#finishJob(row, 'succeeded', result, null, message.lastSeq);
    }
    this.#judge(row, breakers.verdictOf({ ...result, runnerError: message.error ?? null }), error);
  }

  /**
   * Output from a runner, under the edge's own caps (output-caps.ts): nothing is stored for a job that is not this
   * runner's or has ended (acked, so an honest runner's journal drains); past the policy's caps it is truncated and
   * flagged; past the frame budget the job fails, counted against the runner.
   */
  #onOutput(runnerId: string, row: JobRow | undefined, message: Extract<RunnerMessage, { type: 'job.output' }>): void {
    if (!row || TERMINAL.has(row.status)) {
      if (row) this.#counters.add('scangate_output_frames_refused_total', { reason: 'job_ended' });
      return this.#sendTo(runnerId, { type: 'ack', jobId: message.jobId, seq: message.seq });
    }
    const caps = this.#policy.output;
    const admission = admitOutput({ stdoutBytes: row.stdout_bytes, stderrBytes: row.stderr_bytes, frames: row.output_frames }, message.stream, message.data, caps, frameBudget(row.timeout_sec, caps));
    if (admission.kind === 'over_frame_budget') {
      const error = scanError('execution_error', `The runner sent more than ${admission.maxFrames} output frames for this scan, more than any scan can produce; the edge stopped it`, 'Check the runner host: scangate-runner doctor, and its logs.');
      if (row.runner_id) this.#sendTo(row.runner_id, { type: 'job.cancel', jobId: row.id });
      this.#finishJob(row, 'failed', null, error);
      this.#judge(row, 'failure', error);
      return this.#sendTo(runnerId, { type: 'ack', jobId: message.jobId, seq: message.seq });
    }
    const stored = this.#event(row.id, 'output', { seq: message.seq, stream: message.stream, data: admission.data }, { seq: message.seq, stream: message.stream });
    if (stored) {
      const field = message.stream === 'stdout' ? 'stdout_bytes' : 'stderr_bytes';
      this.#jobs.update(row.id, {
        output_bytes: row.output_bytes + admission.bytes,
        [field]: row[field] + admission.bytes,
        output_frames: row.output_frames + 1,
        ...(admission.truncated && { edge_truncated: row.edge_truncated | (message.stream === 'stdout' ? 1 : 2) }),
      });
      this.#counters.add('scangate_relayed_bytes_total', {}, admission.bytes);
      if (admission.truncated) this.#counters.add('scangate_output_truncated_total', { stream: message.stream });
    }
    this.#sendTo(runnerId, { type: 'ack', jobId: row.id, seq: this.#jobs.contiguousSeq(row.id) });
  }

  #leaseJobsOf(runnerId: string, now: number): void {
    const lease = now + this.#setting('LEASE_SEC', 60) * 1000;
    for (const row of this.#jobs.activeOnRunner(runnerId)) if (row.lease_until === null) this.#jobs.update(row.id, { lease_until: lease });
  }

  #runnerLost(row: JobRow, why: string): void {
    const error = scanError('runner_lost', `The runner running this scan ${why}`, 'Start the scan again; scans are never retried automatically.');
    this.#finishJob(row, 'failed', null, error);
    this.#judge(row, breakers.verdictOf({ ...breakers.NO_REPORT, runnerLost: true }), error);
  }

  // ── events (SSE) ────────────────────────────────────────────────────────────────────────────────────

  #event(jobId: string, type: EventType, data: unknown, output?: { seq: number; stream: string }): StoredEvent | undefined {
    if (type !== 'output') this.#dashboard.notify();
    const event = this.#jobs.append(jobId, type, data, output);
    if (!event) return undefined;
    const chunk = encoder.encode(sse(event));
    for (const [writer, stream] of this.#streams.get(jobId) ?? []) if (stream.live) void writer.write(chunk).catch(() => this.#streams.get(jobId)?.delete(writer));
    this.#wake(this.#eventWaiters, jobId);
    return event;
  }

  /**
   * A scan's event stream: the stored history after `lastEventId`, in pages (a large output is never loaded whole),
   * then live events. The writer turns live only once a page comes back empty, with no await in between, so no
   * event is lost or sent twice; a stream that catches up with an ended scan closes.
   */
  #eventStream(jobId: string, lastEventId: number, ownerTokenId: string): Response {
    if (!this.#jobs.get(jobId)) return new Response('not found', { status: 404 });
    const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
    const writer = writable.getWriter();
    const writers = this.#streams.get(jobId) ?? new Map<WritableStreamDefaultWriter<Uint8Array>, { owner: string; live: boolean }>();
    const stream = { owner: ownerTokenId, live: false };
    writers.set(writer, stream);
    this.#streams.set(jobId, writers);
    const forget = () => {
      this.#streams.get(jobId)?.delete(writer);
      if (this.#streams.get(jobId)?.size === 0) this.#streams.delete(jobId);
    };
    const pageThroughHistory = async () => {
      await writer.write(encoder.encode('retry: 2000\n\n'));
      let after = lastEventId;
      for (;;) {
        if (!this.#streams.get(jobId)?.has(writer)) return; // closed meanwhile (revocation)
        const page = this.#jobs.events(jobId, after, EVENT_PAGE);
        if (page.length === 0) break;
        await writer.write(encoder.encode(page.map(sse).join('')));
        after = page.at(-1)!.eid;
      }
      if (TERMINAL.has(this.#jobs.get(jobId)!.status)) {
        forget();
        await writer.close();
      } else {
        stream.live = true;
      }
    };
    pageThroughHistory().catch(forget);
    return new Response(readable, { headers: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' } });
  }

  // ── the runner link (Hibernation API) ───────────────────────────────────────────────────────────────

  override async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const owner = request.headers.get('x-token-id') ?? '';
    if (url.pathname === '/dashboard-stream') return this.#dashboard.stream(owner);
    const events = /^\/events\/([A-Za-z0-9_-]+)$/.exec(url.pathname);
    if (events) return this.#eventStream(events[1]!, Number(request.headers.get('last-event-id') ?? 0) || 0, owner);
    if (url.pathname !== '/connect' || request.headers.get('upgrade')?.toLowerCase() !== 'websocket') return new Response('not found', { status: 404 });
    const runnerId = request.headers.get('x-runner-id') ?? '';
    const runner = this.#runners.get(runnerId);
    if (!runner || runner.revokedAt) return new Response('runner unknown or revoked', { status: 403 });
    // One link per runner, settled at hello (link-conflict.ts): the new connection may replace the old one or be refused.
    const pair = new WebSocketPair();
    this.ctx.acceptWebSocket(pair[1], [runnerId]);
    pair[1].serializeAttachment({ runnerId, helloed: false, openedAt: Date.now() } satisfies SocketAttachment);
    return new Response(null, { status: 101, webSocket: pair[0] });
  }

  override async webSocketMessage(ws: WebSocket, raw: string | ArrayBuffer): Promise<void> {
    const attachment = ws.deserializeAttachment() as SocketAttachment;
    const parsed = parseRunnerFrame(raw);
    if (!parsed.ok) {
      this.#send(ws, { type: 'error', code: 'malformed_frame', message: parsed.problem, recoverySuggestion: 'Upgrade scangate-runner to match the edge.' });
      return;
    }
    const message = parsed.message;
    // A hello does not count as traffic of the runner's live link: it may come from a second host (see #hello).
    if (message.type === 'hello') return this.#hello(ws, attachment, message);
    if (!attachment.helloed) {
      this.#send(ws, { type: 'error', code: 'malformed_frame', message: 'The first frame must be hello', recoverySuggestion: 'Upgrade scangate-runner.' });
      ws.close(4400, 'hello first');
      return;
    }
    this.#runners.seen(attachment.runnerId, Date.now());
    await this.#fromRunner(attachment.runnerId, message);
    // Only an ending job moves a deadline (breaker half-open, queue drained); output and progress, the bulk of
    // the traffic, do not, so they skip the alarm bookkeeping.
    if (message.type === 'job.finished' || message.type === 'job.rejected') await this.#schedule();
  }

  #hello(ws: WebSocket, attachment: SocketAttachment, hello: Hello): void {
    if (attachment.helloed) {
      // What a runner serves is settled once per connection: a second hello could widen it mid-session.
      this.#send(ws, { type: 'error', code: 'duplicate_hello', message: 'hello was already sent on this connection', recoverySuggestion: 'Reconnect to declare other networks.' });
      ws.close(4400, 'duplicate hello');
      return;
    }
    if (!SUPPORTED_PROTOCOLS.includes(hello.protocol)) {
      this.#send(ws, {
        type: 'error',
        code: 'unsupported_protocol',
        message: `Protocol ${hello.protocol} is not supported; this edge speaks ${SUPPORTED_PROTOCOLS.join(', ')}`,
        recoverySuggestion: 'Install the scangate-runner version that matches this edge.',
        supportedProtocols: [...SUPPORTED_PROTOCOLS],
      });
      ws.close(4002, 'unsupported protocol');
      return;
    }
    const runner = this.#runners.get(attachment.runnerId);
    const granted = runner?.granted ?? this.#policy.allowedNetworks;
    const ungranted = hello.networks.filter((n) => !granted.some((g) => networkWithin(n, g)));
    if (ungranted.length > 0) {
      this.#send(ws, {
        type: 'error',
        code: 'networks_not_granted',
        message: `This runner declares ${ungranted.join(', ')}, which an admin did not grant it (granted: ${granted.join(', ')})`,
        recoverySuggestion: 'Start the runner with --network values inside its grant, or have an admin create a runner with the networks it should serve.',
      });
      this.#audit.record(runner?.name ?? attachment.runnerId, 'runner.hello', 'refused', { runnerId: attachment.runnerId, declared: hello.networks, granted });
      ws.close(4403, 'networks not granted');
      return;
    }
    const now = Date.now();
    if (!this.#settleSecondLink(ws, attachment, hello, now)) return;
    this.#runners.connected(attachment.runnerId, hello, now);
    this.#dashboard.notify();
    ws.serializeAttachment({ ...attachment, helloed: true, instanceId: hello.instanceId ?? null, host: hello.host ?? null } satisfies SocketAttachment);
    this.#send(ws, { type: 'welcome', runnerId: attachment.runnerId, heartbeatSec: this.#setting('HEARTBEAT_SEC', 30) });
    const resumed = new Map(hello.resume.map((r) => [r.jobId, r]));
    for (const row of this.#jobs.activeOnRunner(attachment.runnerId)) {
      if (resumed.has(row.id)) this.#jobs.update(row.id, { lease_until: null });
      else this.#runnerLost(row, 'came back without it (it restarted)');
    }
    this.#drainQueue();
    void this.#schedule();
  }

  /**
   * A hello while this runner has a live link elsewhere (link-conflict.ts): refused if that link is live and on
   * another host (the conflict is recorded for the dashboard and audited once a minute), else the old link is
   * replaced. Returns whether this hello may go on.
   */
  #settleSecondLink(ws: WebSocket, attachment: SocketAttachment, hello: Hello, now: number): boolean {
    const runner = this.#runners.get(attachment.runnerId)!;
    const others = this.#linksOf(attachment.runnerId).filter((other) => other !== ws);
    const livenessMs = 3 * this.#setting('HEARTBEAT_SEC', 30) * 1000;
    const incomingHost = hello.host ?? null;
    for (const other of others) {
      const { host, instanceId } = other.deserializeAttachment() as SocketAttachment;
      const lastHeardAt = Math.max(runner.lastSeen ?? 0, this.ctx.getWebSocketAutoResponseTimestamp(other)?.getTime() ?? 0);
      if (decideSecondHello({ instanceId: instanceId ?? null, lastHeardAt }, hello.instanceId ?? null, now, livenessMs) === 'replace') continue;
      const firstThisMinute = !runner.conflict || now - runner.conflict.lastAt >= 60_000;
      this.#runners.setConflict(runner.id, noteConflict(runner.conflict, host ?? null, incomingHost, now));
      if (firstThisMinute) this.#audit.record(runner.name, 'runner.conflict', 'refused', { runnerId: runner.id, liveHost: host ?? null, refusedHost: incomingHost });
      this.#dashboard.notify();
      this.#send(ws, {
        type: 'error',
        code: 'runner_in_use',
        message: `This runner token is already connected from ${host === incomingHost ? `another process on ${host ?? 'this host'}` : (host ?? 'another host')}; one runner token serves one runner at a time`,
        recoverySuggestion: 'Stop the runner on the other host, or create a runner (and token) of its own for this host. This runner keeps retrying and takes over once the other link misses its heartbeats.',
      });
      ws.close(4409, 'runner token in use from another host');
      return false;
    }
    for (const other of others) other.close(4000, 'replaced by a new connection');
    return true;
  }

  /** The runner's links that have said hello and are open (a refused or unfinished connection is not one). */
  #linksOf(runnerId: string): WebSocket[] {
    return this.ctx.getWebSockets(runnerId).filter((ws) => ws.readyState === WebSocket.OPEN && (ws.deserializeAttachment() as SocketAttachment).helloed);
  }

  async #fromRunner(runnerId: string, message: RunnerMessage): Promise<void> {
    if (message.type === 'hello') return;
    const row = this.#jobs.get(message.jobId);
    const mine = row && row.runner_id === runnerId;
    switch (message.type) {
      case 'job.accepted':
        if (mine && row.status === 'dispatched') this.#jobs.update(row.id, { status: 'running', started_at: Date.now() });
        return;
      case 'job.rejected':
        if (mine && !TERMINAL.has(row.status)) {
          this.#finishJob(row, 'rejected', null, message.error);
          this.#judge(row, 'neutral');
        }
        return;
      case 'job.output':
        return this.#onOutput(runnerId, row && mine ? row : undefined, message);
      case 'job.progress':
        if (mine && !TERMINAL.has(row.status)) {
          const progress = { percent: message.percent, ...(message.phase && { phase: message.phase }), ...(message.etaSec !== undefined && { etaSec: message.etaSec }) };
          this.#jobs.update(row.id, { progress: JSON.stringify(progress) });
          this.#event(row.id, 'progress', progress);
        }
        return;
      case 'job.finished': {
        if (!mine) return this.#sendTo(runnerId, { type: 'ack', jobId: message.jobId, seq: finishedAckSeq(message.lastSeq) });
        this.#onFinished(message);
        const done = this.#jobs.get(row.id)!;
        const contiguous = this.#jobs.contiguousSeq(row.id);
        this.#sendTo(runnerId, { type: 'ack', jobId: row.id, seq: TERMINAL.has(done.status) ? finishedAckSeq(message.lastSeq) : contiguous });
        this.#drainQueue();
        return;
      }
    }
  }

  override async webSocketClose(ws: WebSocket): Promise<void> {
    await this.#linkDown(ws);
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    await this.#linkDown(ws);
  }

  async #linkDown(ws: WebSocket, silent = false): Promise<void> {
    const { runnerId, helloed } = ws.deserializeAttachment() as SocketAttachment;
    // A connection that never said hello (refused, or cut before it) was never the runner's link; a replaced
    // link closing says nothing about the runner, which is connected on the new one.
    if (!helloed || this.#linksOf(runnerId).some((other) => other !== ws)) return;
    if (silent) this.#audit.record(this.#runners.get(runnerId)?.name ?? runnerId, 'runner.silent', 'link closed', { runnerId });
    const now = Date.now();
    this.#runners.disconnected(runnerId, now);
    this.#leaseJobsOf(runnerId, now);
    this.#dashboard.notify();
    await this.#schedule();
  }

  #send(ws: WebSocket, message: EdgeMessage): void {
    try {
      ws.send(encodeEdgeFrame(message));
    } catch {
      // The socket is closing; the runner resends after it reconnects.
    }
  }

  #sendTo(runnerId: string, message: EdgeMessage): void {
    for (const ws of this.#linksOf(runnerId)) this.#send(ws, message);
  }

  // ── alarms: leases, half-open timing, queue expiry ──────────────────────────────────────────────────

  /** How long past a job's timeout its runner has to report its end (it stops nmap, waits for it, then reports). */
  #graceMs(): number {
    return this.#setting('DEADLINE_GRACE_SEC', 30) * 1000;
  }

  override async alarm(): Promise<void> {
    const now = Date.now();
    await this.#checkLiveness(now);
    for (const row of this.#jobs.byStatus(['dispatched', 'running'])) {
      if (row.lease_until !== null && row.lease_until <= now) this.#runnerLost(row, `stayed away past its ${this.#setting('LEASE_SEC', 60)} s lease`);
      else if (row.dispatched_at !== null && row.dispatched_at + row.timeout_sec * 1000 + this.#graceMs() <= now) this.#pastDeadline(row);
    }
    for (const runner of this.#runners.list()) {
      const next = breakers.onTimer(runner.breaker, now);
      if (next !== runner.breaker) this.#setBreaker(runner, next);
    }
    this.#drainQueue();
    this.#pruneEndedJobs(now);
    await this.#schedule();
  }

  /** How long an ended scan is kept (JOB_RETENTION_DAYS, 90 by default). */
  #retentionMs(): number {
    return this.#setting('JOB_RETENTION_DAYS', 90) * 86_400_000;
  }

  /** Ended scans past the retention go, with their output and events, 500 per alarm (the alarm returns while more are due). */
  #pruneEndedJobs(now: number): void {
    const pruned = this.#jobs.prune(now - this.#retentionMs(), 500);
    if (pruned > 0) this.#counters.add('scangate_scans_pruned_total', {}, pruned);
  }

  /**
   * The edge enforces each job's deadline itself: a runner that has not reported a scan's end by its timeout plus
   * the grace is told to cancel it, and the job fails; that counts against the runner (it should have reported).
   */
  #pastDeadline(row: JobRow): void {
    if (row.runner_id) this.#sendTo(row.runner_id, { type: 'job.cancel', jobId: row.id });
    const error = scanError('timeout', `The runner did not report the end of this scan within its ${row.timeout_sec} s timeout and ${this.#graceMs() / 1000} s of grace; the edge stopped waiting and asked it to cancel`, 'Start the scan again; check the runner (scangate-runner doctor) if this repeats.');
    this.#finishJob(row, 'failed', null, error);
    this.#judge(row, breakers.verdictOf({ ...breakers.NO_REPORT, missedDeadline: true }), error);
  }

  /**
   * A silent partition must not leave a runner "online": a link with no frame and no pong for three heartbeats
   * is closed here, which starts the leases of its jobs (and the runner reconnects if it is alive).
   */
  async #checkLiveness(now: number): Promise<void> {
    const heartbeatMs = this.#setting('HEARTBEAT_SEC', 30) * 1000;
    const limit = 3 * heartbeatMs;
    for (const runner of this.#runners.list()) {
      // A connection that has not said hello within a heartbeat holds a socket for nothing.
      for (const ws of this.ctx.getWebSockets(runner.id)) {
        const attachment = ws.deserializeAttachment() as SocketAttachment;
        if (!attachment.helloed && now - (attachment.openedAt ?? 0) >= heartbeatMs) ws.close(4408, 'no hello');
      }
      if (!runner.connected) continue;
      for (const ws of this.#linksOf(runner.id)) {
        const pong = this.ctx.getWebSocketAutoResponseTimestamp(ws)?.getTime() ?? 0;
        const heard = Math.max(runner.lastSeen ?? 0, pong);
        if (now - heard < limit) continue;
        ws.close(4008, 'heartbeats missed');
        await this.#linkDown(ws, true);
      }
    }
  }

  async #schedule(): Promise<void> {
    const heartbeatMs = this.#setting('HEARTBEAT_SEC', 30) * 1000;
    const times = [
      this.#jobs.nextDeadline(this.#graceMs()),
      // The oldest ended scan's expiry; never sooner than a minute from now, so pruning is not a busy loop.
      ((oldest) => (oldest === null ? null : Math.max(oldest + this.#retentionMs(), Date.now() + 60_000)))(this.#jobs.oldestFinish()),
      ...this.#runners.list().map((r) => (r.breaker.state === 'OPEN' ? r.breaker.halfOpenAt : null)),
      // While a runner is connected, look at its heartbeats once per heartbeat period.
      this.#runners.list().some((r) => r.connected) ? Date.now() + heartbeatMs : null,
    ].filter((t): t is number => t !== null);
    if (times.length === 0) return;
    const next = Math.min(...times);
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > next || current < Date.now()) await this.ctx.storage.setAlarm(Math.max(next, Date.now() + 10));
  }
}

function sse(event: StoredEvent): string {
  return `id: ${event.eid}\nevent: ${event.type}\ndata: ${event.data}\n\n`;
}

/** The coordinator of the named pool. */
export function getCoordinator(env: Env, pool = 'default'): DurableObjectStub<Coordinator> {
  return env.COORDINATOR.get(env.COORDINATOR.idFromName(pool));
}
