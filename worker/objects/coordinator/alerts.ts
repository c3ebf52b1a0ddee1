import type { JobStatus } from '../../../shared/scan/index.ts';
import {
  type AlertEvent,
  breakerEvent,
  DEFAULT_RETRY_BASE_MS,
  nextAttemptAt,
  payloadBody,
  type RetrySchedule,
  retrySchedule,
  ruleMatches,
  runnerOfflineEvent,
  scanEvents,
  SIGNATURE_HEADER,
  signatureHeader,
  testEvent,
} from '../../domain/alerts/index.ts';
import type { Breaker } from '../../domain/breaker.ts';
import type { ScanDiff } from '../../domain/diff/index.ts';
import { fail, ok, type Result } from '../../domain/result.ts';
import { randomToken } from '../../domain/tokens.ts';
import type { Env } from '../../env.ts';
import type { AlertDelivery, AlertRule, AlertStore, DueDelivery } from '../../storage/alerts.store.ts';
import { type JobRow, toScan } from '../../storage/jobs.store.ts';
import type { RunnerRecord } from '../../storage/runners.store.ts';
import { notFound } from './alert-rules.ts';
import type { Core } from './core.ts';

/** Alerting tunables from the Worker's vars (README, Configuration reference). */
export interface AlertSettings {
  /** ALLOW_LOOPBACK_WEBHOOKS=1: plain http to loopback literals (local development, tests). */
  allowLoopback: boolean;
  publicOrigin: string | null;
  retry: RetrySchedule;
  /** How long one attempt may take before it counts as failed (ALERT_TIMEOUT_MS). */
  timeoutMs: number;
  /** Finished deliveries kept per rule (pending ones are always kept). */
  keepPerRule: number;
}

export function readAlertSettings(env: Env): AlertSettings {
  const n = (v: string | undefined, fallback: number) => (Number(v) > 0 ? Number(v) : fallback);
  return {
    allowLoopback: env.ALLOW_LOOPBACK_WEBHOOKS === '1' || env.ALLOW_LOOPBACK_WEBHOOKS === 'true',
    publicOrigin: env.PUBLIC_ORIGIN ?? null,
    retry: retrySchedule(n(env.ALERT_RETRY_BASE_MS, DEFAULT_RETRY_BASE_MS)),
    timeoutMs: n(env.ALERT_TIMEOUT_MS, 10_000),
    keepPerRule: 200,
  };
}

/** What the dashboard shows of alerting. */
export interface AlertsOverview {
  rules: AlertRule[];
  recent: AlertDelivery[];
  failures: AlertDelivery[];
}

/** How many deliveries one alarm sends at most (in parallel); the rest wait for the next alarm, which comes at once. */
const BATCH = 16;
/** How long the alarm waits for the attempts it started before it lets the next alarm come (deliverDue). */
const ALARM_WAIT_MS = 2_000;
/** The most deliveries one rule gets from one scan (or other single happening). */
const PER_RULE_PER_EVENT_BATCH = 50;
const ACTOR = 'scangate.alerts';

/**
 * One pool's alerting at work: events from finished scans, breakers and absent runners, matched against the rules
 * (alert-rules.ts keeps them), and webhook deliveries. An event only queues deliveries; the pool's alarm sends them,
 * in parallel, each with its own timeout, so one slow or broken receiver delays nobody else. Each attempt is logged;
 * a failed one is retried on the backoff (domain/alerts/retry.ts) until the delivery is ~24 h old, then given up.
 * The rule's secret is read here only to sign.
 */
export class AlertCenter {
  readonly #core: Core;
  readonly #store: AlertStore;
  readonly #settings: AlertSettings;

  constructor(core: Core, store: AlertStore, settings: AlertSettings) {
    this.#core = core;
    this.#store = store;
    this.#settings = settings;
  }

  get #pool(): string {
    const row = this.#core.sql.exec<{ value: string }>(`SELECT value FROM meta WHERE key = 'pool'`).toArray()[0];
    return row?.value ?? 'default';
  }

  /** Sends a test event to one rule now (one attempt, no retry) and returns its logged delivery. */
  async test(id: string, actor: string): Promise<Result<AlertDelivery>> {
    const rule = this.#store.rule(id);
    if (!rule) return fail(notFound(id));
    const now = Date.now();
    const deliveryId = this.#queue(rule, testEvent(this.#pool, rule.name, now, randomToken(9)), now);
    this.#core.audit.record(actor, 'alert.test', 'accepted', { alertId: id, deliveryId });
    const [due] = this.#store.due(now, 1, deliveryId);
    if (due) await this.#send(due);
    return ok(this.#store.delivery(deliveryId)!);
  }

  // ── events ────────────────────────────────────────────────────────────────────────────────────────────

  #queue(rule: AlertRule, event: AlertEvent, now: number): number {
    const body = payloadBody(rule.format, event, {
      ruleId: rule.id,
      ruleName: rule.name,
      link: this.#settings.publicOrigin ? `${this.#settings.publicOrigin.replace(/\/$/, '')}/dashboard` : null,
    });
    return this.#store.queue(rule.id, event, body, now);
  }

  /**
   * Queues a delivery for every rule that wants one of `events`, at most PER_RULE_PER_EVENT_BATCH per rule (a scan
   * that opens a thousand ports must not post a thousand messages to a channel); what is left out is audited with
   * its count. Returns how many were queued.
   */
  #dispatch(events: readonly AlertEvent[], now: number): number {
    let queued = 0;
    for (const rule of this.#store.rules()) {
      const wanted = events.filter((event) => ruleMatches(rule, event));
      for (const event of wanted.slice(0, PER_RULE_PER_EVENT_BATCH)) this.#queue(rule, event, now);
      queued += Math.min(wanted.length, PER_RULE_PER_EVENT_BATCH);
      if (wanted.length > PER_RULE_PER_EVENT_BATCH)
        this.#core.audit.record(ACTOR, 'alert.queue', 'truncated', {
          alertId: rule.id,
          scanId: wanted[0]!.scanId ?? null,
          queued: PER_RULE_PER_EVENT_BATCH,
          leftOut: wanted.length - PER_RULE_PER_EVENT_BATCH,
        });
    }
    if (queued > 0) void this.arm();
    return queued;
  }

  /** A job ended (JobEngine.afterFinish); `diff` is what it changed since the previous scan of its targets. */
  onScanFinished(row: JobRow, status: JobStatus, diff: ScanDiff | null, now: number): void {
    if (status !== 'succeeded' && status !== 'failed') return;
    if (this.#store.rules().length === 0) return;
    const scan = toScan(this.#core.jobs.get(row.id) ?? row);
    const events = scanEvents(
      {
        id: scan.id,
        pool: this.#pool,
        status,
        targets: scan.targets,
        scheduleId: scan.scheduleId,
        finishedAt: now,
        errorType: scan.error?.type ?? null,
        report: scan.report,
      },
      diff,
    );
    this.#dispatch(events, now);
  }

  /** A runner's breaker changed state (JobEngine.breakerMoved). */
  onBreaker(runner: RunnerRecord, from: Breaker, to: Breaker, now: number): void {
    if (to.state !== 'OPEN' && to.state !== 'CLOSED') return;
    if (from.state === to.state) return;
    const detail = { from: from.state, consecutiveFailures: to.consecutiveFailures };
    this.#dispatch([breakerEvent(this.#pool, runner, to.state, now, detail)], now);
  }

  /** Runners away longer than a rule's minutes: one event per rule and absence (the alarm calls this). */
  checkRunners(now: number): void {
    const rules = this.#store.rules().filter((r) => r.enabled && r.events.includes('runner.offline'));
    if (rules.length === 0) return;
    for (const runner of this.#core.runners.list()) {
      if (runner.connected || runner.revokedAt || runner.lastSeen === null) continue;
      for (const rule of rules) {
        if (now - runner.lastSeen < rule.runnerOfflineMinutes * 60_000) continue;
        if (this.#store.offlineSent(rule.id, runner.id) === runner.lastSeen) continue;
        this.#store.markOfflineSent(rule.id, runner.id, runner.lastSeen);
        const event = runnerOfflineEvent(this.#pool, runner, runner.lastSeen, now);
        if (ruleMatches(rule, event)) this.#queue(rule, event, now);
      }
    }
  }

  /** When an absent runner next crosses a rule's minutes, or null (JobEngine.alsoDue). */
  nextOfflineCheck(): number | null {
    const rules = this.#store.rules().filter((r) => r.enabled && r.events.includes('runner.offline'));
    const times: number[] = [];
    for (const runner of this.#core.runners.list()) {
      if (runner.connected || runner.revokedAt || runner.lastSeen === null) continue;
      for (const rule of rules)
        if (this.#store.offlineSent(rule.id, runner.id) !== runner.lastSeen)
          times.push(runner.lastSeen + rule.runnerOfflineMinutes * 60_000);
    }
    return times.length ? Math.min(...times) : null;
  }

  // ── delivery ──────────────────────────────────────────────────────────────────────────────────────────

  /** Sets the pool's alarm to the next due delivery if it is sooner than the alarm already set. */
  async arm(): Promise<void> {
    const next = this.#store.nextDue();
    if (next === null) return;
    const storage = this.#core.ctx.storage;
    const current = await storage.getAlarm();
    if (current === null || current > next) await storage.setAlarm(Math.max(next, Date.now() + 50));
  }

  /**
   * Sends what is due, in parallel; each attempt is held (not picked twice) until it ends or times out. The alarm
   * waits for them at most ALARM_WAIT_MS: a receiver that is slow to answer keeps its own attempt open (until its
   * timeout) but not the alarm, so the next alarm (other receivers' retries and new events) is not held up. An
   * attempt cut short by an eviction is sent again once its hold runs out: delivery is at least once, and the event
   * id lets a receiver drop the duplicate.
   */
  async deliverDue(now: number): Promise<void> {
    const sends = this.#store.due(now, BATCH).map((d) =>
      this.#send(d).finally(() => {
        void this.arm();
      }),
    );
    if (sends.length === 0) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const bound = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, Math.min(ALARM_WAIT_MS, this.#settings.timeoutMs));
    });
    await Promise.race([Promise.all(sends), bound]);
    clearTimeout(timer);
  }

  async #send(due: DueDelivery): Promise<void> {
    const { delivery } = due;
    this.#store.hold(delivery.id, Date.now() + this.#settings.timeoutMs + 5_000);
    const timestamp = Math.floor(Date.now() / 1000);
    let responseCode: number | null = null;
    let error: string | null = null;
    try {
      const response = await fetch(due.url, {
        method: 'POST',
        // Never follow a redirect: the destination was checked, the place it redirects to was not.
        redirect: 'manual',
        signal: AbortSignal.timeout(this.#settings.timeoutMs),
        headers: {
          'content-type': 'application/json',
          'user-agent': 'scangate-alerts/1',
          [SIGNATURE_HEADER]: await signatureHeader(due.secret, timestamp, due.body),
          'X-Scangate-Event': delivery.eventType,
          'X-Scangate-Event-Id': delivery.eventId,
          'X-Scangate-Delivery': String(delivery.id),
        },
        body: due.body,
      });
      responseCode = response.status;
      await response.body?.cancel();
      if (response.status < 200 || response.status > 299) error = `HTTP ${response.status}`;
    } catch (e) {
      const err = e as Error;
      error = err.name === 'TimeoutError' ? `no answer within ${this.#settings.timeoutMs} ms` : err.message;
    }
    const now = Date.now();
    if (error === null) {
      this.#store.attempt(delivery.id, { status: 'delivered', responseCode, error: null, nextAttemptAt: null }, now);
      if (delivery.attempts > 0)
        this.#core.audit.record(ACTOR, 'alert.delivery', 'delivered', {
          alertId: delivery.ruleId,
          deliveryId: delivery.id,
          attempts: delivery.attempts + 1,
        });
    } else {
      const attempts = delivery.attempts + 1;
      const retryAt =
        delivery.eventType === 'test'
          ? null
          : nextAttemptAt(this.#settings.retry, delivery.createdAt, attempts, now, Math.random());
      this.#store.attempt(
        delivery.id,
        { status: retryAt === null ? 'failed' : 'pending', responseCode, error, nextAttemptAt: retryAt },
        now,
      );
      // The first failure and the giving up are audited; the retries between are in the delivery log.
      if (attempts === 1 || retryAt === null)
        this.#core.audit.record(ACTOR, 'alert.delivery', retryAt === null ? 'failed' : 'failing', {
          alertId: delivery.ruleId,
          deliveryId: delivery.id,
          event: delivery.eventType,
          attempts,
          responseCode,
          error,
          ...(retryAt !== null && { retryAt: new Date(retryAt).toISOString() }),
        });
    }
    this.#core.notifyDashboard();
  }

  /** Keeps the newest finished deliveries of each rule (the alarm calls this). */
  prune(): number {
    return this.#store.prune(this.#settings.keepPerRule);
  }

  nextDue(): number | null {
    return this.#store.nextDue();
  }
}
