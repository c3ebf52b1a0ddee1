import type { JsonValue } from '../../../shared/errors/index.ts';
import { DEFAULT_POLICY, resolvePolicy, type Policy, type PolicyClamp } from '../../../shared/policy/index.ts';
import type { AuditStore } from '../../storage/audit.store.ts';
import { fail, ok, type Result } from '../../domain/result.ts';

/** The pool's policy: one row, read at start, replaced whole by an admin (clamped, every clamp reported, audited). */
export class PolicyBook {
  readonly #sql: SqlStorage;
  readonly #audit: AuditStore;
  #policy: Policy;

  constructor(sql: SqlStorage, audit: AuditStore) {
    this.#sql = sql;
    this.#audit = audit;
    const stored = sql.exec<{ json: string }>('SELECT json FROM policy WHERE id = 1').toArray()[0];
    const resolved = stored ? resolvePolicy(JSON.parse(stored.json)) : undefined;
    this.#policy = resolved?.ok ? resolved.policy : (structuredClone(DEFAULT_POLICY) as Policy);
  }

  current(): Policy {
    return this.#policy;
  }

  put(input: JsonValue, actor: string): Result<{ policy: Policy; clamps: PolicyClamp[] }> {
    const resolved = resolvePolicy(input, this.#policy);
    if (!resolved.ok) {
      this.#audit.record(actor, 'policy.update', 'refused', { reason: resolved.error.message });
      return fail(resolved.error);
    }
    const before = this.#policy;
    this.#policy = resolved.policy;
    this.#sql.exec(
      'INSERT INTO policy (id, json, updated_at) VALUES (1, ?, ?) ON CONFLICT(id) DO UPDATE SET json = excluded.json, updated_at = excluded.updated_at',
      JSON.stringify(resolved.policy),
      Date.now(),
    );
    this.#audit.record(actor, 'policy.update', 'accepted', {
      input,
      clamps: resolved.clamps,
      before,
      after: resolved.policy,
    });
    return ok({ policy: resolved.policy, clamps: resolved.clamps });
  }
}
