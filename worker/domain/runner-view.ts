import type { BreakerStateName } from './breaker.ts';
import { conflictShown } from './link-conflict.ts';
import type { RunnerConflict, RunnerRecord } from '../storage/runners.store.ts';

/**
 * A runner as an admin sees it: the one projection of a stored runner that `GET /v1/runners`, the dashboard and
 * MCP's scanner_info show (each takes the fields it needs; REST writes the times as ISO 8601). The hello fields
 * describe the live link, or the last one. Pure.
 */
export type RunnerSummary = {
  id: string;
  name: string;
  online: boolean;
  revoked: boolean;
  /** Epoch ms. */
  lastSeen: number | null;
  runnerVersion: string | null;
  nmapVersion: string | null;
  privileged: boolean | null;
  /** Its kernel fence, as its hello said (runner/fence.ts); null before a hello or from a runner that says nothing. */
  fence: { enforced: boolean; detail: string } | null;
  /** What the runner declared in its last hello ([] before its first). */
  networks: string[];
  /** What an admin granted; the declared networks are these or parts of them. Null for runners made before grants. */
  grantedNetworks: string[] | null;
  /** The host of the live link, as the runner named it. */
  host: string | null;
  /** A second host presenting this runner's token lately (refused while this link is live); null once it stopped. */
  conflict: RunnerConflict | null;
  maxConcurrency: number | null;
  running: number;
  breaker: BreakerStateName;
};

/** The key order is the order `GET /v1/runners` has always written its fields in. */
export function runnerSummary(r: RunnerRecord & { running: number }, now: number): RunnerSummary {
  return {
    id: r.id,
    name: r.name,
    online: r.connected,
    revoked: r.revokedAt !== null,
    lastSeen: r.lastSeen,
    runnerVersion: r.hello?.runnerVersion ?? null,
    nmapVersion: r.hello?.nmapVersion ?? null,
    privileged: r.hello?.privileged ?? null,
    fence: r.hello?.fence ?? null,
    networks: r.hello?.networks ?? [],
    grantedNetworks: r.granted,
    host: r.hello?.host ?? null,
    conflict: conflictShown(r.conflict, now) ? r.conflict : null,
    maxConcurrency: r.hello?.maxConcurrency ?? null,
    running: r.running,
    breaker: r.breaker.state,
  };
}
