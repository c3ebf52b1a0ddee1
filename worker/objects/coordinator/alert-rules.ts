import { scanError } from '../../../shared/errors/index.ts';
import {
  AlertRuleInput,
  type AlertRulePatch,
  type AlertRuleSpec,
  checkDestination,
} from '../../domain/alerts/index.ts';
import { fail, ok, type Result } from '../../domain/result.ts';
import { newId, randomToken } from '../../domain/tokens.ts';
import type { AlertDelivery, AlertRule, AlertStore, DeliveryStatus } from '../../storage/alerts.store.ts';
import type { AlertSettings, AlertsOverview } from './alerts.ts';
import type { Core } from './core.ts';

export const notFound = (id: string) =>
  scanError('not_found', `No alert rule ${id} in this pool`, 'List the rules with GET /v1/alerts.', {
    details: { alertId: id },
  });

/**
 * What admins do with one pool's alert rules: create (the secret is generated here and returned this once),
 * change (a new secret only on rotation, returned once), delete, read the delivery log. Destinations are checked
 * against the deployment (domain/alerts/destination.ts). Every change is audited, refusals of a destination too.
 */
export class AlertRules {
  readonly #core: Core;
  readonly #store: AlertStore;
  readonly #settings: AlertSettings;

  constructor(core: Core, store: AlertStore, settings: AlertSettings) {
    this.#core = core;
    this.#store = store;
    this.#settings = settings;
  }

  #destination(url: string, selfHosts: readonly string[]): Result<string> {
    const hosts = [...selfHosts];
    if (this.#settings.publicOrigin) {
      try {
        hosts.push(new URL(this.#settings.publicOrigin).host);
      } catch {
        // A malformed PUBLIC_ORIGIN names no host to refuse.
      }
    }
    const checked = checkDestination(url, { allowLoopback: this.#settings.allowLoopback, selfHosts: hosts });
    return checked.ok ? ok(checked.url) : fail(checked.error);
  }

  #nameTaken(name: string, except?: string): boolean {
    const other = this.#store.byName(name);
    return other !== undefined && other.id !== except;
  }

  list(): AlertRule[] {
    return this.#store.rules();
  }

  get(id: string): Result<AlertRule> {
    const rule = this.#store.rule(id);
    return rule ? ok(rule) : fail(notFound(id));
  }

  /** A new rule and its secret, which is never returned again. */
  create(
    pool: string,
    spec: AlertRuleSpec,
    actor: string,
    selfHosts: readonly string[],
  ): Result<{ rule: AlertRule; secret: string }> {
    const url = this.#destination(spec.url, selfHosts);
    if (!url.ok) {
      this.#core.audit.record(actor, 'alert.create', 'refused', { name: spec.name, reason: url.error.message });
      return url;
    }
    if (this.#nameTaken(spec.name))
      return fail(
        scanError('conflict', `An alert rule named ${spec.name} exists`, 'Choose another name, or PATCH that rule.'),
      );
    this.#core.sql.exec(
      `INSERT INTO meta (key, value) VALUES ('pool', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`,
      pool,
    );
    const id = newId('alr');
    const secret = newSecret();
    const now = Date.now();
    this.#store.insert(id, { ...spec, url: url.value }, secret.secret, secret.prefix, actor, now);
    this.#core.audit.record(actor, 'alert.create', 'accepted', {
      alertId: id,
      name: spec.name,
      events: spec.events,
      host: new URL(url.value).host,
      format: spec.format,
    });
    this.#core.notifyDashboard();
    return ok({ rule: this.#store.rule(id)!, secret: secret.secret });
  }

  /** Changes a rule; with rotateSecret, a new secret is returned (once), and the old one stops signing at once. */
  update(
    id: string,
    patch: AlertRulePatch,
    actor: string,
    selfHosts: readonly string[],
  ): Result<{ rule: AlertRule; secret?: string }> {
    const current = this.#store.rule(id);
    if (!current) return fail(notFound(id));
    const { rotateSecret, ...fields } = patch;
    const { id: _id, secretPrefix: _p, createdBy: _c, createdAt: _a, updatedAt: _u, ...spec } = current;
    const parsed = AlertRuleInput.safeParse({ ...spec, ...fields });
    if (!parsed.success)
      return fail(
        scanError('validation_error', parsed.error.issues[0]!.message, 'Fix the field named and send it again.'),
      );
    const next = parsed.data;
    if (fields.url !== undefined) {
      const url = this.#destination(fields.url, selfHosts);
      if (!url.ok) {
        this.#core.audit.record(actor, 'alert.update', 'refused', { alertId: id, reason: url.error.message });
        return url;
      }
      next.url = url.value;
    }
    if (this.#nameTaken(next.name, id))
      return fail(
        scanError('conflict', `An alert rule named ${next.name} exists`, 'Choose another name for this rule.'),
      );
    const secret = rotateSecret ? newSecret() : undefined;
    this.#store.update(id, next, Date.now(), secret);
    this.#core.audit.record(actor, 'alert.update', 'accepted', {
      alertId: id,
      fields: Object.keys(fields),
      rotatedSecret: rotateSecret === true,
    });
    this.#core.notifyDashboard();
    return ok({ rule: this.#store.rule(id)!, ...(secret && { secret: secret.secret }) });
  }

  remove(id: string, actor: string): Result<AlertRule> {
    const rule = this.#store.rule(id);
    if (!rule) return fail(notFound(id));
    this.#store.delete(id);
    this.#core.audit.record(actor, 'alert.delete', 'accepted', { alertId: id, name: rule.name });
    this.#core.notifyDashboard();
    return ok(rule);
  }

  deliveries(id: string, filter: { status?: DeliveryStatus; limit: number }): Result<AlertDelivery[]> {
    if (!this.#store.rule(id)) return fail(notFound(id));
    return ok(this.#store.deliveries({ ruleId: id, ...filter }));
  }

  overview(): AlertsOverview {
    return {
      rules: this.#store.rules(),
      recent: this.#store.deliveries({ limit: 15 }),
      failures: this.#store.deliveries({ status: 'failed', limit: 10 }),
    };
  }
}

/** A signing secret: 32 random bytes, `whsec_`-prefixed so it is recognisable in a config; its prefix is shown. */
function newSecret(): { secret: string; prefix: string } {
  const secret = `whsec_${randomToken(32)}`;
  return { secret, prefix: secret.slice(0, 12) };
}
