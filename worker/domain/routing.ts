import ipaddr from 'ipaddr.js';
import { scanError, type ScanError } from '../../shared/errors/index.ts';
import type { Target } from '../../shared/policy/index.ts';
import { admits, retryAfterSec, type Breaker } from './breaker.ts';

/**
 * Which runner gets a scan: among live runners whose declared networks contain every address target, fenced if the
 * policy requires it (`requireFence`), with a breaker that admits work, privileged if the argv needs it, the narrowest network match wins, then the least
 * loaded. Hostnames constrain nothing here (the edge cannot resolve lab names; the chosen runner resolves them
 * and refuses addresses outside its networks). Pure: no I/O.
 */
export interface RunnerView {
  id: string;
  name: string;
  networks: readonly string[];
  privileged: boolean;
  /** Its hello says the kernel fence is enforced (runner/fence.ts); false for runners that say nothing. */
  fenced: boolean;
  maxConcurrency: number;
  running: number;
  breaker: Breaker;
}

export type RouteDecision =
  | { kind: 'dispatch'; runnerId: string }
  /**
   * Wait in the queue: every runner that could take it is at capacity, or the token already runs its fair share
   * of them (`token_share`, with the number it may run).
   */
  | { kind: 'queue'; reason: 'capacity' }
  | { kind: 'queue'; reason: 'token_share'; limit: number }
  | { kind: 'refuse'; error: ScanError };

type Parsed = [ipaddr.IPv4 | ipaddr.IPv6, number];

/** Runners' networks are few and change rarely, and routing runs for every scan: parse each text once. */
const parsedNetworks = new Map<string, Parsed | undefined>();

function parseNetwork(text: string): Parsed | undefined {
  if (parsedNetworks.has(text)) return parsedNetworks.get(text);
  let parsed: Parsed | undefined;
  try {
    parsed = ipaddr.parseCIDR(text);
  } catch {
    parsed = undefined;
  }
  if (parsedNetworks.size >= 4096) parsedNetworks.clear();
  parsedNetworks.set(text, parsed);
  return parsed;
}

/** The longest prefix among a runner's networks that contains the target, or -1 when none does. */
function bestMatch(networks: readonly Parsed[], target: Target): number {
  if (target.kind === 'hostname') return 0;
  const [address, prefix] =
    parseNetwork(target.kind === 'network' ? target.value : `${target.value}/${target.family === 4 ? 32 : 128}`) ?? [];
  if (!address || prefix === undefined) return -1;
  let best = -1;
  for (const [net, bits] of networks) {
    if (net.kind() === address.kind() && bits <= prefix && address.match(net, bits) && bits > best) best = bits;
  }
  return best;
}

/**
 * What one token may hold at once. A token MUST NOT be able to take every slot for an hour: it may run at most
 * `maxConcurrentScans`, and at most `maxSlotSharePercent` of the slots of the runners that can serve the scan
 * (rounded up, at least one), so another token's scan still finds a slot. Past that, its scans wait in the queue.
 */
export interface TokenShare {
  /** Scans of this token dispatched or running now. */
  running: number;
  maxConcurrentScans: number;
  maxSlotSharePercent: number;
}

/** How many scans a token may run on runners with `slots` slots between them. */
export function tokenLimit(
  slots: number,
  share: Pick<TokenShare, 'maxConcurrentScans' | 'maxSlotSharePercent'>,
): number {
  return Math.max(1, Math.min(share.maxConcurrentScans, Math.ceil((slots * share.maxSlotSharePercent) / 100)));
}

export function chooseRunner(
  request: { targets: readonly Target[]; needsPrivilege: boolean; requireFence?: boolean; share?: TokenShare },
  runners: readonly RunnerView[],
  now: number,
): RouteDecision {
  if (runners.length === 0) {
    return {
      kind: 'refuse',
      error: scanError(
        'no_runner',
        'No runner is connected',
        'Start a runner for the lab network (scangate-runner run) and try again.',
      ),
    };
  }
  const scored = runners
    .map((runner) => {
      const networks = runner.networks.map(parseNetwork).filter((n): n is Parsed => n !== undefined);
      const matches = request.targets.map((t) => bestMatch(networks, t));
      return { runner, narrowness: matches.some((m) => m < 0) ? -1 : Math.min(...matches, 128) };
    })
    .filter((s) => s.narrowness >= 0);
  if (scored.length === 0) {
    const served = [...new Set(runners.flatMap((r) => r.networks))].join(', ');
    return {
      kind: 'refuse',
      error: scanError(
        'no_runner',
        `No connected runner covers ${describe(request.targets)}`,
        `Connected runners serve ${served}; scan inside those, or start a runner for that network.`,
        {
          details: { servedNetworks: served.split(', ') },
        },
      ),
    };
  }
  const fenced = request.requireFence ? scored.filter((s) => s.runner.fenced) : scored;
  if (fenced.length === 0) {
    const unfenced = scored.map((s) => s.runner.name);
    return {
      kind: 'refuse',
      error: scanError(
        'no_runner',
        `The policy requires a kernel fence (requireFence), and the runners that cover ${describe(request.targets)} run unfenced (${unfenced.join(', ')})`,
        'Give those runners the fence (root, or CAP_NET_ADMIN with nftables: scangate-runner doctor shows it), or an admin turns requireFence off.',
        { details: { unfencedRunners: unfenced } },
      ),
    };
  }
  const capable = fenced.filter((s) => s.runner.privileged || !request.needsPrivilege);
  if (capable.length === 0) {
    return {
      kind: 'refuse',
      error: scanError(
        'no_runner',
        'This scan needs raw sockets, and no privileged runner covers its targets',
        'Use a connect scan (-sT) without -O/--traceroute, or grant a runner CAP_NET_RAW.',
      ),
    };
  }
  const admitted = capable.filter((s) => admits(s.runner.breaker));
  if (admitted.length === 0) {
    const wait = Math.min(...capable.map((s) => retryAfterSec(s.runner.breaker, now)));
    return {
      kind: 'refuse',
      error: scanError(
        'circuit_breaker_open',
        `Every runner that covers ${describe(request.targets)} has an open circuit breaker (${capable.map((s) => s.runner.name).join(', ')})`,
        `Retry in ${wait} s, when a breaker half-opens; an admin can inspect GET /v1/breakers.`,
        { retryAfterSec: wait },
      ),
    };
  }
  const free = admitted.filter((s) => s.runner.running < s.runner.maxConcurrency);
  if (free.length === 0) return { kind: 'queue', reason: 'capacity' };
  // A slot is free, but this token may already hold its share: the slot stays for other tokens.
  if (request.share) {
    const limit = tokenLimit(
      admitted.reduce((sum, s) => sum + s.runner.maxConcurrency, 0),
      request.share,
    );
    if (request.share.running >= limit) return { kind: 'queue', reason: 'token_share', limit };
  }
  free.sort(
    (a, b) =>
      b.narrowness - a.narrowness ||
      a.runner.running / a.runner.maxConcurrency - b.runner.running / b.runner.maxConcurrency ||
      a.runner.running - b.runner.running ||
      a.runner.name.localeCompare(b.runner.name),
  );
  return { kind: 'dispatch', runnerId: free[0]!.runner.id };
}

function describe(targets: readonly Target[]): string {
  const shown = targets
    .slice(0, 3)
    .map((t) => t.value)
    .join(', ');
  return targets.length > 3 ? `${shown} and ${targets.length - 3} more` : shown;
}
