import { scanError } from '../../../shared/errors/index.ts';
import { canonicalNetwork, networkWithin } from '../../../shared/policy/index.ts';
import * as breakers from '../../domain/breaker.ts';
import type { RunnerRecord } from '../../storage/runners.store.ts';
import { fail, ok, type Result } from '../../domain/result.ts';
import type { Core } from './core.ts';
import type { JobEngine } from './jobs.ts';
import type { RunnerSockets } from './sockets.ts';

export type BreakerAction = 'reset' | 'open' | 'close';

/** What admins do to runners and their breakers: create (with a grant), list, revoke, reset/open/close a breaker. */
export class RunnerAdmin {
  readonly #core: Core;
  readonly #engine: JobEngine;
  readonly #sockets: RunnerSockets;

  constructor(core: Core, engine: JobEngine, sockets: RunnerSockets) {
    this.#core = core;
    this.#engine = engine;
    this.#sockets = sockets;
  }

  /** A runner may serve only the networks granted here (canonical CIDRs inside the pool's allowed networks). */
  create(id: string, name: string, networks: readonly string[], actor: string): Result<RunnerRecord> {
    const { runners } = this.#core;
    const allowed = this.#core.policy().allowedNetworks;
    if (runners.find(name))
      return fail(
        scanError(
          'conflict',
          `A runner named ${name} exists already`,
          'Choose another name, or revoke the old runner first.',
        ),
      );
    for (const network of networks) {
      const canonical = canonicalNetwork(network);
      if (canonical !== network) {
        return fail(
          scanError(
            'validation_error',
            `${network} is not a canonical CIDR network`,
            `Write it as ${typeof canonical === 'string' ? canonical : 'a network address with its prefix, e.g. 10.20.0.0/16'}.`,
            { details: { network } },
          ),
        );
      }
      if (!allowed.some((a) => networkWithin(network, a))) {
        return fail(
          scanError(
            'validation_error',
            `${network} is not inside the pool's allowed networks`,
            `Grant networks inside ${allowed.join(', ')}.`,
            { details: { network } },
          ),
        );
      }
    }
    runners.insert(id, name, networks, breakers.newBreaker(this.#core.policy().breaker), Date.now());
    this.#core.audit.record(actor, 'runner.create', 'accepted', { runnerId: id, name, networks });
    this.#core.notifyDashboard();
    return ok(runners.get(id)!);
  }

  list(): Array<RunnerRecord & { running: number }> {
    const active = this.#core.jobs.activeCounts();
    return this.#core.runners.list().map((r) => ({ ...r, running: active.get(r.id) ?? 0 }));
  }

  /** Revokes a runner and cuts its link at once; its jobs get a lease (and become runner_lost). */
  async revoke(idOrName: string, actor: string): Promise<Result<RunnerRecord>> {
    const runner = this.#core.runners.find(idOrName);
    if (!runner) return fail(scanError('not_found', `No runner ${idOrName}`, 'List runners with GET /v1/runners.'));
    const now = Date.now();
    this.#core.runners.revoke(runner.id, now);
    this.#core.notifyDashboard();
    for (const ws of this.#sockets.all(runner.id)) {
      this.#sockets.send(ws, {
        type: 'error',
        code: 'revoked',
        message: 'This runner was revoked by an admin',
        recoverySuggestion: 'Ask an admin for a new runner token.',
      });
      ws.close(4003, 'revoked');
    }
    this.#engine.leaseJobsOf(runner.id, now);
    this.#core.audit.record(actor, 'runner.revoke', 'accepted', { runnerId: runner.id, name: runner.name });
    await this.#engine.schedule();
    return ok(this.#core.runners.get(runner.id)!);
  }

  breakers(): Array<{ runnerId: string; runner: string; breaker: breakers.Breaker; threshold: number }> {
    const threshold = this.#core.policy().breaker.failureThreshold;
    return this.#core.runners
      .list()
      .filter((r) => !r.revokedAt)
      .map((r) => ({ runnerId: r.id, runner: r.name, breaker: r.breaker, threshold }));
  }

  async breakerAction(idOrName: string, action: BreakerAction, actor: string): Promise<Result<breakers.Breaker>> {
    const runner = this.#core.runners.find(idOrName);
    if (!runner || runner.revokedAt)
      return fail(scanError('not_found', `No breaker for runner ${idOrName}`, 'List breakers with GET /v1/breakers.'));
    const now = Date.now();
    const next =
      action === 'reset'
        ? breakers.reset(runner.breaker, now, this.#core.policy().breaker)
        : action === 'open'
          ? breakers.forceOpen(runner.breaker, now)
          : breakers.forceClose(runner.breaker, now);
    const from = runner.breaker.state;
    this.#engine.setBreaker(runner, next);
    this.#core.audit.record(actor, `breaker.${action}`, 'accepted', {
      runnerId: runner.id,
      runner: runner.name,
      from,
      to: next.state,
    });
    this.#engine.drainQueue();
    await this.#engine.schedule();
    return ok(next);
  }

  /** This pool's counters and gauges, unrendered: the Worker labels them with the pool and renders every pool at once. */
  metricSamples(): Array<{ name: string; labels: string; value: number }> {
    const samples = this.#core.counters.all();
    const runners = this.#core.runners.list().filter((r) => !r.revokedAt);
    for (const r of runners) {
      for (const state of ['CLOSED', 'OPEN', 'HALF_OPEN'] as const) {
        samples.push({
          name: 'scangate_breaker_state',
          labels: `{runner="${r.name}",state="${state}"}`,
          value: r.breaker.state === state ? 1 : 0,
        });
      }
    }
    samples.push({ name: 'scangate_runners_connected', labels: '', value: runners.filter((r) => r.connected).length });
    samples.push({ name: 'scangate_queue_depth', labels: '', value: this.#core.jobs.byStatus(['queued']).length });
    return samples;
  }
}
