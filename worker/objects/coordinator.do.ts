/**
 * The coordinator of one runner pool, as a Durable Object: a thin facade. Its RPC methods and runtime hooks
 * (fetch, WebSocket events, alarm) delegate in one line each to components with one concern each, in
 * `worker/objects/coordinator/`: scans (what callers do), jobs (queue, dispatch, ends, breaker verdicts, the alarm's work),
 * link (the runner end), streams (scan SSE), tasks (MCP tasks), runners and policy (what admins do), alerts (rules,
 * events and webhook deliveries), the dashboard feed. A second pool is a second object, so nothing here is global. The object renders no HTML and builds no MCP
 * result: the Worker does, from the data returned here. Over ~300 lines because a Durable Object's RPC surface must
 * be its own methods: one short delegation each.
 */
import { DurableObject } from 'cloudflare:workers';
import {
  validateScanRequest,
  type Policy,
  type PolicyClamp,
  type ValidationResult,
} from '../../shared/policy/index.ts';
import { PING_FRAME, PONG_FRAME } from '../../shared/protocol/index.ts';
import type { Principal } from '../domain/principal.ts';
import type { AlertRulePatch, AlertRuleSpec } from '../domain/alerts/index.ts';
import type * as breakers from '../domain/breaker.ts';
import type { Core } from './coordinator/core.ts';
import { fail, ok, type Result } from '../domain/result.ts';
import {
  breakerRows,
  changeRows,
  perMinute,
  runnerRows,
  scanRows,
  type DashboardData,
} from './coordinator/dashboard-data.ts';
import { AlertRules } from './coordinator/alert-rules.ts';
import { AlertCenter, type AlertsOverview, readAlertSettings } from './coordinator/alerts.ts';
import { DashboardFeed } from './coordinator/dashboard-feed.ts';
import { ScanHistory, type ScanDiffView } from './coordinator/history.ts';
import { Schedules, type ScheduleView } from './coordinator/schedules.ts';
import { JobEngine } from './coordinator/jobs.ts';
import { RunnerLink } from './coordinator/link.ts';
import { PolicyBook } from './coordinator/policy.ts';
import { RunnerAdmin, type BreakerAction } from './coordinator/runners.ts';
import { ScanService, type ScanRequestBody } from './coordinator/scans.ts';
import { readSettings } from './coordinator/settings.ts';
import { RunnerSockets } from './coordinator/sockets.ts';
import { ScanStreams } from './coordinator/streams.ts';
import { TaskBook, type TaskOutcome, type TaskRecord } from './coordinator/tasks.ts';
import type { Env } from '../env.ts';
import { applyMigrations } from '../storage/migrations.ts';
import { AlertStore, type AlertDelivery, type AlertRule, type DeliveryStatus } from '../storage/alerts.store.ts';
import { AuditStore, auditRetention, type AuditEntry, type AuditQuery } from '../storage/audit.store.ts';
import type { JobStatus, Scan } from '../../shared/scan/index.ts';
import type { JsonObject, JsonValue } from '../../shared/errors/index.ts';
import {
  InventoryStore,
  type InventoryHost,
  type InventoryHostQuery,
  type InventoryQuery,
  type InventoryService,
} from '../storage/inventory.store.ts';
import { JobStore } from '../storage/jobs.store.ts';
import { Counters } from '../storage/metrics.ts';
import { RunnerStore, type RunnerRecord } from '../storage/runners.store.ts';
import { COORDINATOR_MIGRATIONS } from '../storage/schema.ts';
import { TaskStore } from '../storage/tasks.store.ts';
import { ScheduleStore } from '../storage/schedules.store.ts';
import type { ScheduleInput, SchedulePatch } from '../domain/schedule.ts';

export type { ScanRequestBody } from './coordinator/scans.ts';

export class Coordinator extends DurableObject<Env> {
  readonly #core: Core;
  readonly #schemaVersion: number;
  readonly #policy: PolicyBook;
  readonly #streams: ScanStreams;
  readonly #engine: JobEngine;
  readonly #link: RunnerLink;
  readonly #scans: ScanService;
  readonly #runnerAdmin: RunnerAdmin;
  readonly #tasks: TaskBook;
  readonly #history: ScanHistory;
  readonly #schedules: Schedules;
  readonly #alerts: AlertCenter;
  readonly #alertRules: AlertRules;
  readonly #dashboard = new DashboardFeed(async () => `event: data\ndata: ${JSON.stringify(this.dashboardData())}\n\n`);

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const sql = ctx.storage.sql;
    this.#schemaVersion = applyMigrations(sql, COORDINATOR_MIGRATIONS);
    sql.exec(
      `INSERT INTO meta (key, value) VALUES ('started_at', ?) ON CONFLICT(key) DO NOTHING`,
      new Date().toISOString(),
    );
    const audit = new AuditStore(sql, auditRetention(env));
    const jobs = new JobStore(sql);
    this.#policy = new PolicyBook(sql, audit);
    this.#core = {
      ctx,
      sql,
      settings: readSettings(env),
      jobs,
      runners: new RunnerStore(sql),
      audit,
      counters: new Counters(sql),
      policy: () => this.#policy.current(),
      notifyDashboard: () => this.#dashboard.notify(),
    };
    const sockets = new RunnerSockets(ctx);
    this.#streams = new ScanStreams(jobs);
    this.#engine = new JobEngine(this.#core, sockets, this.#streams);
    this.#link = new RunnerLink(this.#core, sockets, this.#engine);
    this.#scans = new ScanService(this.#core, this.#engine, sockets);
    this.#runnerAdmin = new RunnerAdmin(this.#core, this.#engine, sockets);
    this.#tasks = new TaskBook(new TaskStore(sql), jobs);
    this.#history = new ScanHistory(this.#core, new InventoryStore(sql), this.#scans);
    const alertStore = new AlertStore(sql);
    const alertSettings = readAlertSettings(env);
    this.#alerts = new AlertCenter(this.#core, alertStore, alertSettings);
    this.#alertRules = new AlertRules(this.#core, alertStore, alertSettings);
    this.#engine.afterFinish.push((row, status, now) => {
      const diff = status === 'succeeded' ? this.#history.onSucceeded(row, now) : null;
      this.#alerts.onScanFinished(row, status, diff, now);
    });
    this.#engine.breakerMoved.push((runner, from, to) => this.#alerts.onBreaker(runner, from, to, Date.now()));
    this.#engine.alsoDue.push(() => this.#history.nextPruneAt());
    this.#schedules = new Schedules(this.#core, new ScheduleStore(sql), this.#scans);
    this.#engine.alsoDue.push(() => this.#schedules.nextDue());
    this.#engine.alsoDue.push(() => this.#alerts.nextOfflineCheck());
    // Heartbeats are answered without waking the object.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING_FRAME, PONG_FRAME));
    void ctx.blockConcurrencyWhile(() => this.#link.reconcile());
  }

  // ── health, policy, audit, metrics ──────────────────────────────────────────────────────────────────

  health(): {
    schemaVersion: number;
    startedAt: string;
    runnersConnected: number;
    breakersOpen: number;
    queueDepth: number;
  } {
    const runners = this.#core.runners.list().filter((r) => !r.revokedAt);
    return {
      schemaVersion: this.#schemaVersion,
      startedAt: this.#core.sql.exec<{ value: string }>(`SELECT value FROM meta WHERE key = 'started_at'`).one().value,
      runnersConnected: runners.filter((r) => r.connected).length,
      breakersOpen: runners.filter((r) => r.breaker.state === 'OPEN').length,
      queueDepth: this.#core.jobs.byStatus(['queued']).length,
    };
  }

  getPolicy(): Policy {
    return this.#policy.current();
  }

  putPolicy(input: JsonValue, actor: string): Result<{ policy: Policy; clamps: PolicyClamp[] }> {
    const result = this.#policy.put(input, actor);
    this.#dashboard.notify();
    return result;
  }

  audit(query: AuditQuery): { entries: AuditEntry[]; nextCursor: string | null } {
    return this.#core.audit.page(query);
  }

  recordAudit(actor: string, action: string, decision: string, detail: JsonObject): void {
    this.#core.audit.record(actor, action, decision, detail);
  }

  metricSamples(): Array<{ name: string; labels: string; value: number }> {
    return this.#runnerAdmin.metricSamples();
  }

  // ── scans ───────────────────────────────────────────────────────────────────────────────────────────

  validate(body: ScanRequestBody): Result<Omit<Extract<ValidationResult, { ok: true }>, 'ok'>> {
    const result = validateScanRequest(body, this.#policy.current());
    if (!result.ok) return fail(result.error);
    const { ok: _ok, ...value } = result;
    return ok(value);
  }

  createScan(
    principal: Principal,
    body: ScanRequestBody,
    options: { idempotencyKey?: string; waitSec?: number } = {},
  ): Promise<Result<{ scan: Scan; created: boolean }>> {
    return this.#scans.create(principal, body, options);
  }

  getScan(
    principal: Principal,
    id: string,
    options: { outputTailBytes?: number } = {},
  ): Result<Scan & { output: string; outputOmittedBytes: number }> {
    return this.#scans.get(principal, id, options);
  }

  readOutput(principal: Principal, id: string, afterSeq: number): Result<{ data: string; nextSeq: number | null }> {
    return this.#scans.readOutput(principal, id, afterSeq);
  }

  readXml(
    principal: Principal,
    id: string,
    afterSeq: number,
  ): Result<{ data: string; nextSeq: number | null; bytes: number; truncated: boolean }> {
    return this.#scans.readXml(principal, id, afterSeq);
  }

  listScans(
    principal: Principal,
    filter: { status?: JobStatus; limit: number; cursor?: string; mine?: boolean },
  ): { scans: Scan[]; nextCursor: string | null } {
    return this.#scans.list(principal, filter);
  }

  cancelScan(principal: Principal, id: string): Promise<Result<Scan>> {
    return this.#scans.cancel(principal, id);
  }

  watchScan(
    principal: Principal,
    id: string,
    afterEid: number,
    waitMs: number,
  ): Promise<Result<{ scan: Scan; lastEid: number }>> {
    return this.#scans.watch(principal, id, afterEid, waitMs);
  }

  /** What changed between a finished scan and `against` or the previous scan of its targets (history.ts). */
  diffScan(principal: Principal, id: string, against?: string): Result<ScanDiffView> {
    return this.#history.diff(principal, id, against);
  }

  inventory(
    principal: Principal,
    query: Omit<InventoryQuery, 'tokenId'>,
  ): { services: InventoryService[]; nextCursor: string | null } {
    return this.#history.inventory(principal, query);
  }

  inventoryHosts(
    principal: Principal,
    query: Omit<InventoryHostQuery, 'tokenId'>,
  ): { hosts: InventoryHost[]; nextCursor: string | null } {
    return this.#history.inventoryHosts(principal, query);
  }

  // ── schedules (admin-owned; runs are normal scans, started by the alarm) ─────────────────────────────

  listSchedules(): ScheduleView[] {
    return this.#schedules.list();
  }

  getSchedule(idOrName: string): Result<ScheduleView> {
    return this.#schedules.get(idOrName);
  }

  async createSchedule(principal: Principal, pool: string, input: ScheduleInput): Promise<Result<ScheduleView>> {
    const created = this.#schedules.create(principal, pool, input);
    await this.#engine.schedule();
    return created;
  }

  async updateSchedule(principal: Principal, idOrName: string, patch: SchedulePatch): Promise<Result<ScheduleView>> {
    const updated = this.#schedules.update(principal, idOrName, patch);
    await this.#engine.schedule();
    return updated;
  }

  deleteSchedule(principal: Principal, idOrName: string): Result<ScheduleView> {
    return this.#schedules.delete(principal, idOrName);
  }

  runSchedule(principal: Principal, idOrName: string): Promise<Result<{ schedule: ScheduleView; scan: Scan }>> {
    return this.#schedules.runNow(principal, idOrName);
  }

  // ── MCP tasks (records; the Worker words them for MCP) ────────────────────────────────────────────────

  mcpTaskCreate(
    principal: Principal,
    options: {
      scanId: string | null;
      ttl: number | null;
      pollInterval: number;
      failure: { message: string; result: string } | null;
    },
  ): TaskRecord {
    return this.#tasks.create(principal, options);
  }

  mcpTaskGet(principal: Principal, taskId: string): TaskRecord | null {
    return this.#tasks.get(principal, taskId);
  }

  mcpTaskOutcome(principal: Principal, taskId: string): TaskOutcome | null {
    return this.#tasks.outcome(principal, taskId);
  }

  /** Cancels the task's scan (if it still runs) and the task; null if the task is not the caller's. */
  async mcpTaskCancel(principal: Principal, taskId: string): Promise<TaskRecord | null> {
    const scanId = this.#tasks.scanOf(principal, taskId);
    if (scanId) await this.#scans.cancel(principal, scanId);
    return this.#tasks.cancel(principal, taskId);
  }

  mcpTaskList(principal: Principal, cursor?: string): { tasks: TaskRecord[]; nextCursor?: string } {
    return this.#tasks.list(principal, cursor);
  }

  /** Forgets what this object caches from its storage; for tests and tools that edit storage directly. */
  dropCaches(): void {
    this.#core.runners.forget();
  }

  // ── dashboard ───────────────────────────────────────────────────────────────────────────────────────

  /** Everything the dashboard shows, as of now. */
  dashboardData(): DashboardData {
    const now = Date.now();
    const policy = this.#policy.current();
    return {
      now,
      allowIntrusive: policy.allowIntrusive,
      queueDepth: this.#core.jobs.byStatus(['queued']).length,
      runners: runnerRows(this.#runnerAdmin.list(), now),
      breakers: breakerRows(this.#core.runners.list(), policy.breaker.failureThreshold),
      scans: scanRows(this.#core.jobs.list({ limit: 25 }).scans),
      perMinute: perMinute(this.#core.jobs.endedSince(now - 3_600_000), now),
      changes: changeRows(this.#core.jobs.recentChanges(10)),
      alerts: this.#alertRules.overview(),
    };
  }

  // ── runners and breakers ────────────────────────────────────────────────────────────────────────────

  createRunner(id: string, name: string, networks: readonly string[], actor: string): Result<RunnerRecord> {
    return this.#runnerAdmin.create(id, name, networks, actor);
  }

  runner(id: string): RunnerRecord | undefined {
    return this.#core.runners.get(id);
  }

  listRunners(): Array<RunnerRecord & { running: number }> {
    return this.#runnerAdmin.list();
  }

  revokeRunner(idOrName: string, actor: string): Promise<Result<RunnerRecord>> {
    return this.#runnerAdmin.revoke(idOrName, actor);
  }

  /**
   * Ends every live stream a token opened (scan events, the dashboard), at once: called when the token is revoked,
   * so a revoked token reads nothing more. Returns how many were closed.
   */
  closeStreamsOf(tokenId: string): number {
    return this.#streams.closeOwnedBy(tokenId) + this.#dashboard.closeOwnedBy(tokenId);
  }

  listBreakers(): Array<{ runnerId: string; runner: string; breaker: breakers.Breaker; threshold: number }> {
    return this.#runnerAdmin.breakers();
  }

  breakerAction(idOrName: string, action: BreakerAction, actor: string): Promise<Result<breakers.Breaker>> {
    return this.#runnerAdmin.breakerAction(idOrName, action, actor);
  }

  // ── alerts (admin; the Worker scopes the pool) ─────────────────────────────────────────────────────────

  listAlerts(): AlertRule[] {
    return this.#alertRules.list();
  }

  getAlert(id: string): Result<AlertRule> {
    return this.#alertRules.get(id);
  }

  /** `selfHosts`: the hosts the request came to (an alert must never call the Worker itself). */
  createAlert(
    pool: string,
    spec: AlertRuleSpec,
    actor: string,
    selfHosts: string[],
  ): Result<{ rule: AlertRule; secret: string }> {
    return this.#alertRules.create(pool, spec, actor, selfHosts);
  }

  updateAlert(
    id: string,
    patch: AlertRulePatch,
    actor: string,
    selfHosts: string[],
  ): Result<{ rule: AlertRule; secret?: string }> {
    return this.#alertRules.update(id, patch, actor, selfHosts);
  }

  deleteAlert(id: string, actor: string): Result<AlertRule> {
    return this.#alertRules.remove(id, actor);
  }

  alertDeliveries(id: string, filter: { status?: DeliveryStatus; limit: number }): Result<AlertDelivery[]> {
    return this.#alertRules.deliveries(id, filter);
  }

  testAlert(id: string, actor: string): Promise<Result<AlertDelivery>> {
    return this.#alerts.test(id, actor);
  }

  alertsOverview(): AlertsOverview {
    return this.#alertRules.overview();
  }

  // ── runtime hooks: streams, the runner link, the alarm ─────────────────────────────────────────────────

  override async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const owner = request.headers.get('x-token-id') ?? '';
    if (url.pathname === '/dashboard-stream') return this.#dashboard.stream(owner);
    const events = /^\/events\/([A-Za-z0-9_-]+)$/.exec(url.pathname);
    if (events) return this.#streams.open(events[1]!, Number(request.headers.get('last-event-id') ?? 0) || 0, owner);
    if (url.pathname !== '/connect' || request.headers.get('upgrade')?.toLowerCase() !== 'websocket')
      return new Response('not found', { status: 404 });
    return this.#link.connect(request.headers.get('x-runner-id') ?? '');
  }

  override async webSocketMessage(ws: WebSocket, raw: string | ArrayBuffer): Promise<void> {
    await this.#link.message(ws, raw);
  }

  override async webSocketClose(ws: WebSocket): Promise<void> {
    await this.#link.down(ws);
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    await this.#link.down(ws);
  }

  /**
   * One alarm serves leases, deadlines, runner liveness, breaker half-open times, queue expiry, retention and alert
   * deliveries (sent in parallel, each with its own timeout; alerts.ts).
   */
  override async alarm(): Promise<void> {
    const now = Date.now();
    await this.#link.checkLiveness(now);
    this.#engine.onAlarm(now);
    this.#history.prune(now);
    await this.#schedules.onAlarm(now);
    this.#alerts.checkRunners(now);
    await this.#alerts.deliverDue(now);
    this.#alerts.prune();
    await this.#engine.schedule();
    await this.#alerts.arm();
  }
}

/** The coordinator of the named pool. */
export function getCoordinator(env: Env, pool = 'default'): DurableObjectStub<Coordinator> {
  return env.COORDINATOR.get(env.COORDINATOR.idFromName(pool));
}
