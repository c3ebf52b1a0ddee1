import type { Policy } from '../../../shared/policy/index.ts';
import type { AuditStore } from '../../storage/audit.store.ts';
import type { JobStore } from '../../storage/jobs.store.ts';
import type { Counters } from '../../storage/metrics.ts';
import type { RunnerStore } from '../../storage/runners.store.ts';
import type { Settings } from './settings.ts';

/**
 * What every component of one pool's Coordinator shares: the object's state, its stores, its settings and the
 * current policy. Components get this and the components they use; none holds a reference back to the facade.
 */
export interface Core {
  readonly ctx: DurableObjectState;
  readonly sql: SqlStorage;
  readonly settings: Settings;
  readonly jobs: JobStore;
  readonly runners: RunnerStore;
  readonly audit: AuditStore;
  readonly counters: Counters;
  /** The pool's policy as of now (an admin may change it between two calls). */
  policy(): Policy;
  /** Something the dashboard shows has changed. */
  notifyDashboard(): void;
}
