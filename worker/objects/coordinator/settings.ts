import type { Env } from '../../env.ts';

/**
 * The Coordinator's tunables, read from the Worker's vars once per object (decimal strings; anything that is not a
 * positive number falls back to the default). README, Configuration reference, lists them.
 */
export interface Settings {
  /** A job whose runner stays away longer becomes runner_lost. */
  leaseMs: number;
  heartbeatSec: number;
  queueMax: number;
  queueWaitSec: number;
  /** Past a job's timeout, how long its runner has to report the end before the edge fails it. */
  deadlineGraceMs: number;
  /** How long an ended scan is kept. */
  jobRetentionMs: number;
  /** How long an inventory row nobody has seen again is kept, and how many rows a pool keeps at most. */
  inventoryRetentionMs: number;
  inventoryMaxRows: number;
}

function positive(value: string | undefined, fallback: number): number {
  const n = Number(value);
  return Number.isFinite(n) && n > 0 ? n : fallback;
}

export function readSettings(env: Env): Settings {
  return {
    leaseMs: positive(env.LEASE_SEC, 60) * 1000,
    heartbeatSec: positive(env.HEARTBEAT_SEC, 30),
    queueMax: positive(env.QUEUE_MAX, 32),
    queueWaitSec: positive(env.QUEUE_WAIT_SEC, 30),
    deadlineGraceMs: positive(env.DEADLINE_GRACE_SEC, 30) * 1000,
    jobRetentionMs: positive(env.JOB_RETENTION_DAYS, 90) * 86_400_000,
    inventoryRetentionMs: positive(env.INVENTORY_RETENTION_DAYS, 180) * 86_400_000,
    inventoryMaxRows: positive(env.INVENTORY_MAX_ROWS, 200_000),
  };
}
