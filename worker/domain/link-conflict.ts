import type { RunnerConflict } from '../storage/runners.store.ts';

/**
 * One runner token, one live link. Two hosts sharing a token used to replace each other on every reconnect (a
 * hundred times a minute, failing every scan as runner_lost); now the link that is live keeps the token:
 *
 * - the same runner instance saying hello again replaces its old link (a reconnect after a network blip, where the
 *   old socket may be half dead);
 * - another instance (another host, or a second process on the same host) is refused while the live link has been
 *   heard from within `livenessMs` (three heartbeats: the window after which the edge itself declares a silent
 *   link down);
 * - once the live link has missed its heartbeats, the other instance takes over. A restarted runner whose old
 *   socket was closed (the usual case: the kernel closes it, even after kill -9) connects at once.
 * Runners that name no instance (older ones) keep the old rule: the newest connection wins.
 */
export function decideSecondHello(
  live: { instanceId: string | null; lastHeardAt: number },
  incomingInstanceId: string | null,
  now: number,
  livenessMs: number,
): 'replace' | 'refuse' {
  if (live.instanceId === null || incomingInstanceId === null || live.instanceId === incomingInstanceId)
    return 'replace';
  return now - live.lastHeardAt < livenessMs ? 'refuse' : 'replace';
}

/** How long a refused second host stays on the dashboard after its last attempt. */
export const CONFLICT_SHOWN_MS = 10 * 60_000;

/** The conflict after one more refused attempt: the same pair of hosts within the shown window counts up. */
export function noteConflict(
  previous: RunnerConflict | null,
  liveHost: string | null,
  refusedHost: string | null,
  now: number,
): RunnerConflict {
  const same =
    previous &&
    previous.liveHost === liveHost &&
    previous.refusedHost === refusedHost &&
    now - previous.lastAt < CONFLICT_SHOWN_MS;
  return same
    ? { ...previous, lastAt: now, attempts: previous.attempts + 1 }
    : { liveHost, refusedHost, firstAt: now, lastAt: now, attempts: 1 };
}

export function conflictShown(conflict: RunnerConflict | null, now: number): conflict is RunnerConflict {
  return conflict !== null && now - conflict.lastAt < CONFLICT_SHOWN_MS;
}
