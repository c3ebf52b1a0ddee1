import type { AlertRuleSpec } from '../domain/alerts/index.ts';

/** An alert rule as the API shows it: never its secret, only the secret's first characters. */
export interface AlertRule extends AlertRuleSpec {
  id: string;
  secretPrefix: string;
  createdBy: string;
  createdAt: number;
  updatedAt: number;
}

export type DeliveryStatus = 'pending' | 'delivered' | 'failed';

export interface AlertDelivery {
  id: number;
  ruleId: string;
  eventId: string;
  eventType: string;
  title: string;
  status: DeliveryStatus;
  attempts: number;
  /** The HTTP status of the last attempt, or null when it got none (timeout, refused connection). */
  responseCode: number | null;
  lastError: string | null;
  createdAt: number;
  nextAttemptAt: number | null;
  lastAttemptAt: number | null;
  finishedAt: number | null;
}

type RuleRow = {
  id: string;
  name: string;
  spec: string;
  secret: string;
  secret_prefix: string;
  created_by: string;
  created_at: number;
  updated_at: number;
};

type DeliveryRow = {
  id: number;
  rule_id: string;
  event_id: string;
  event_type: string;
  title: string;
  body: string;
  status: DeliveryStatus;
  attempts: number;
  response_code: number | null;
  last_error: string | null;
  created_at: number;
  next_attempt_at: number | null;
  last_attempt_at: number | null;
  finished_at: number | null;
};

function toRule(r: RuleRow): AlertRule {
  return {
    ...(JSON.parse(r.spec) as AlertRuleSpec),
    id: r.id,
    secretPrefix: r.secret_prefix,
    createdBy: r.created_by,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

function toDelivery(r: DeliveryRow): AlertDelivery {
  return {
    id: r.id,
    ruleId: r.rule_id,
    eventId: r.event_id,
    eventType: r.event_type,
    title: r.title,
    status: r.status,
    attempts: r.attempts,
    responseCode: r.response_code,
    lastError: r.last_error,
    createdAt: r.created_at,
    nextAttemptAt: r.next_attempt_at,
    lastAttemptAt: r.last_attempt_at,
    finishedAt: r.finished_at,
  };
}

/** A delivery that is due, with what sending it needs (its body, its rule's URL and secret). */
export interface DueDelivery {
  delivery: AlertDelivery;
  body: string;
  url: string;
  secret: string;
}

/**
 * One pool's alert rules and their delivery log. The secret leaves this store only inside a DueDelivery (to sign);
 * every other read returns AlertRule, which has no secret.
 */
export class AlertStore {
  readonly #sql: SqlStorage;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
  }

  rules(): AlertRule[] {
    return this.#sql.exec<RuleRow>('SELECT * FROM alert_rules ORDER BY created_at, id').toArray().map(toRule);
  }

  rule(id: string): AlertRule | undefined {
    const row = this.#sql.exec<RuleRow>('SELECT * FROM alert_rules WHERE id = ?', id).toArray()[0];
    return row && toRule(row);
  }

  byName(name: string): AlertRule | undefined {
    const row = this.#sql.exec<RuleRow>('SELECT * FROM alert_rules WHERE name = ?', name).toArray()[0];
    return row && toRule(row);
  }

  insert(id: string, spec: AlertRuleSpec, secret: string, prefix: string, actor: string, now: number): void {
    this.#sql.exec(
      'INSERT INTO alert_rules (id, name, spec, secret, secret_prefix, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      id,
      spec.name,
      JSON.stringify(spec),
      secret,
      prefix,
      actor,
      now,
      now,
    );
  }

  update(id: string, spec: AlertRuleSpec, now: number, secret?: { secret: string; prefix: string }): void {
    this.#sql.exec(
      'UPDATE alert_rules SET name = ?, spec = ?, updated_at = ? WHERE id = ?',
      spec.name,
      JSON.stringify(spec),
      now,
      id,
    );
    if (secret)
      this.#sql.exec(
        'UPDATE alert_rules SET secret = ?, secret_prefix = ? WHERE id = ?',
        secret.secret,
        secret.prefix,
        id,
      );
  }

  /** Deletes a rule and everything it queued or logged. */
  delete(id: string): boolean {
    const gone = this.#sql.exec('DELETE FROM alert_rules WHERE id = ?', id).rowsWritten > 0;
    this.#sql.exec('DELETE FROM alert_deliveries WHERE rule_id = ?', id);
    this.#sql.exec('DELETE FROM alert_offline_sent WHERE rule_id = ?', id);
    return gone;
  }

  queue(ruleId: string, event: { id: string; type: string; title: string }, body: string, now: number): number {
    return this.#sql
      .exec<{ id: number }>(
        `INSERT INTO alert_deliveries (rule_id, event_id, event_type, title, body, status, created_at, next_attempt_at)
         VALUES (?, ?, ?, ?, ?, 'pending', ?, ?) RETURNING id`,
        ruleId,
        event.id,
        event.type,
        event.title.slice(0, 300),
        body,
        now,
        now,
      )
      .one().id;
  }

  /** Pending deliveries due by `now`, oldest first, with what sending them needs. */
  due(now: number, limit: number, onlyId?: number): DueDelivery[] {
    return this.#sql
      .exec<DeliveryRow & { url: string; secret: string; spec: string }>(
        `SELECT d.*, r.secret AS secret, r.spec AS spec FROM alert_deliveries d JOIN alert_rules r ON r.id = d.rule_id
         WHERE d.status = 'pending' AND d.next_attempt_at <= ? ${onlyId === undefined ? '' : 'AND d.id = ?'}
         ORDER BY d.next_attempt_at LIMIT ?`,
        now,
        ...(onlyId === undefined ? [] : [onlyId]),
        limit,
      )
      .toArray()
      .map((r) => ({
        delivery: toDelivery(r),
        body: r.body,
        url: (JSON.parse(r.spec) as AlertRuleSpec).url,
        secret: r.secret,
      }));
  }

  /** Holds a delivery while it is in flight, so no second send starts before this one ends. */
  hold(id: number, until: number): void {
    this.#sql.exec('UPDATE alert_deliveries SET next_attempt_at = ? WHERE id = ?', until, id);
  }

  /** Records one attempt: delivered, to be retried at nextAttemptAt, or given up (failed). */
  attempt(
    id: number,
    outcome: {
      status: DeliveryStatus;
      responseCode: number | null;
      error: string | null;
      nextAttemptAt: number | null;
    },
    now: number,
  ): AlertDelivery | undefined {
    const row = this.#sql
      .exec<DeliveryRow>(
        `UPDATE alert_deliveries SET status = ?, attempts = attempts + 1, response_code = ?, last_error = ?,
           next_attempt_at = ?, last_attempt_at = ?, finished_at = ? WHERE id = ? RETURNING *`,
        outcome.status,
        outcome.responseCode,
        outcome.error?.slice(0, 300) ?? null,
        outcome.nextAttemptAt,
        now,
        outcome.status === 'pending' ? null : now,
        id,
      )
      .toArray()[0];
    return row && toDelivery(row);
  }

  delivery(id: number): AlertDelivery | undefined {
    const row = this.#sql.exec<DeliveryRow>('SELECT * FROM alert_deliveries WHERE id = ?', id).toArray()[0];
    return row && toDelivery(row);
  }

  /** A rule's deliveries (or the pool's, without one), newest first; `status` narrows them. */
  deliveries(filter: { ruleId?: string; status?: DeliveryStatus; limit: number }): AlertDelivery[] {
    const where = [...(filter.ruleId ? ['rule_id = ?'] : []), ...(filter.status ? ['status = ?'] : [])];
    return this.#sql
      .exec<DeliveryRow>(
        `SELECT * FROM alert_deliveries ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`,
        ...(filter.ruleId ? [filter.ruleId] : []),
        ...(filter.status ? [filter.status] : []),
        filter.limit,
      )
      .toArray()
      .map(toDelivery);
  }

  /** The soonest time a pending delivery is due, or null. */
  nextDue(): number | null {
    return this.#sql
      .exec<{ t: number | null }>(`SELECT MIN(next_attempt_at) AS t FROM alert_deliveries WHERE status = 'pending'`)
      .one().t;
  }

  /** Keeps the newest `keep` finished deliveries of each rule (pending ones stay); returns how many went. */
  prune(keep: number): number {
    return this.#sql.exec(
      `DELETE FROM alert_deliveries WHERE status <> 'pending' AND id IN (
         SELECT id FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY rule_id ORDER BY id DESC) AS n
                         FROM alert_deliveries WHERE status <> 'pending') WHERE n > ?)`,
      keep,
    ).rowsWritten;
  }

  /** The absence (`since`) of a runner a rule already reported, or null. */
  offlineSent(ruleId: string, runnerId: string): number | null {
    return (
      this.#sql
        .exec<{ since: number }>(
          'SELECT since FROM alert_offline_sent WHERE rule_id = ? AND runner_id = ?',
          ruleId,
          runnerId,
        )
        .toArray()[0]?.since ?? null
    );
  }

  markOfflineSent(ruleId: string, runnerId: string, since: number): void {
    this.#sql.exec(
      'INSERT INTO alert_offline_sent (rule_id, runner_id, since) VALUES (?, ?, ?) ON CONFLICT (rule_id, runner_id) DO UPDATE SET since = excluded.since',
      ruleId,
      runnerId,
      since,
    );
  }
}
