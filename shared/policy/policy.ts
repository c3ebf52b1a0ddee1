import { z } from 'zod';
import { scanError, type ScanError } from '../errors/index.ts';
import { canonicalNetwork, canonicalSuffix } from './targets.ts';

/**
 * The one value that decides what scangate may do. Every number lies inside its range (see POLICY_RANGES);
 * `resolvePolicy` is the only way to build one from outside input, and it reports every clamp it made.
 */
export type Policy = {
  /** CIDRs a target must lie inside, wholly. Canonical (network address, compressed IPv6). */
  allowedNetworks: string[];
  /** Hostname suffixes, lower-case with a leading dot; matched on a label boundary. */
  allowedHostSuffixes: string[];
  /** Total addresses over all targets of one scan. */
  maxHosts: number;
  /** Targets in one request. */
  maxTargets: number;
  /** Comma-separated items in a port specification. */
  maxPortRanges: number;
  /** Gates `-A`, intrusive NSE categories and scripts, and `--script-args`. */
  allowIntrusive: boolean;
  /** Gates packet-shaping and spoofing options (`-f`, `--mtu`, `-D`, `-g`, `--data-length`, `--ttl`, `--spoof-mac`, `--badsum`). */
  allowEvasion: boolean;
  /**
   * Route scans only to runners whose hello says their kernel fence is enforced (runner/fence.ts: the kernel drops
   * every scan packet outside the runner's networks). Off by default: unfenced runners keep working.
   */
  requireFence: boolean;
  /** Scan timeout when a request gives none. */
  defaultTimeoutSec: number;
  /** Scans one token may start per minute (429 with Retry-After past it). */
  rateLimitPerMinute: number;
  breaker: {
    /** Consecutive failures that open a runner's breaker. */
    failureThreshold: number;
    /** Wait before an OPEN breaker half-opens; ×1.5 after each failed probe, up to maxRecoveryTimeoutSec. */
    recoveryTimeoutSec: number;
    maxRecoveryTimeoutSec: number;
  };
  output: {
    stdoutMaxBytes: number;
    stderrMaxBytes: number;
  };
  /** What one token may hold, so no token can take every runner slot or the whole queue (worker/routing.ts). */
  perToken: {
    /** Scans one token may have dispatched or running at once. */
    maxConcurrentScans: number;
    /** Share of the slots of the runners that can serve a scan one token may hold, in percent (rounded up, ≥ 1 slot). */
    maxSlotSharePercent: number;
    /** Scans one token may have waiting in the queue. */
    maxQueuedScans: number;
  };
};

export const DEFAULT_POLICY: Readonly<Policy> = Object.freeze({
  allowedNetworks: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '127.0.0.0/8', 'fc00::/7', '::1/128'],
  allowedHostSuffixes: ['.lab.internal'],
  maxHosts: 1024,
  maxTargets: 16,
  maxPortRanges: 100,
  allowIntrusive: false,
  allowEvasion: false,
  requireFence: false,
  defaultTimeoutSec: 600,
  rateLimitPerMinute: 60,
  breaker: { failureThreshold: 5, recoveryTimeoutSec: 120, maxRecoveryTimeoutSec: 600 },
  output: { stdoutMaxBytes: 1024 * 1024, stderrMaxBytes: 256 * 1024 },
  perToken: { maxConcurrentScans: 4, maxSlotSharePercent: 50, maxQueuedScans: 8 },
});

type NumericKey =
  | 'maxHosts'
  | 'maxTargets'
  | 'maxPortRanges'
  | 'defaultTimeoutSec'
  | 'rateLimitPerMinute'
  | 'breaker.failureThreshold'
  | 'breaker.recoveryTimeoutSec'
  | 'breaker.maxRecoveryTimeoutSec'
  | 'output.stdoutMaxBytes'
  | 'output.stderrMaxBytes'
  | 'perToken.maxConcurrentScans'
  | 'perToken.maxSlotSharePercent'
  | 'perToken.maxQueuedScans';

/** Inclusive ranges of every number in a Policy. */
export const POLICY_RANGES: Readonly<Record<NumericKey, readonly [number, number]>> = {
  maxHosts: [1, 65536],
  maxTargets: [1, 256],
  maxPortRanges: [1, 1000],
  defaultTimeoutSec: [60, 3600],
  rateLimitPerMinute: [1, 10_000],
  'breaker.failureThreshold': [1, 10],
  'breaker.recoveryTimeoutSec': [30, 600],
  'breaker.maxRecoveryTimeoutSec': [30, 3600],
  'output.stdoutMaxBytes': [64 * 1024, 16 * 1024 * 1024],
  'output.stderrMaxBytes': [16 * 1024, 4 * 1024 * 1024],
  'perToken.maxConcurrentScans': [1, 64],
  'perToken.maxSlotSharePercent': [1, 100],
  'perToken.maxQueuedScans': [1, 64],
};

/** A value outside its range, and the value used instead. */
export type PolicyClamp = {
  key: NumericKey;
  requested: number;
  applied: number;
  range: readonly [number, number];
};

const int = z.number().int();

/** What an admin may send: any subset of a Policy, nothing else (unknown keys are typos, not silence). */
export const PolicyInputSchema = z
  .object({
    allowedNetworks: z.array(z.string()).min(1).max(64),
    allowedHostSuffixes: z.array(z.string()).max(64),
    maxHosts: int,
    maxTargets: int,
    maxPortRanges: int,
    allowIntrusive: z.boolean(),
    allowEvasion: z.boolean(),
    requireFence: z.boolean(),
    defaultTimeoutSec: int,
    rateLimitPerMinute: int,
    breaker: z
      .object({ failureThreshold: int, recoveryTimeoutSec: int, maxRecoveryTimeoutSec: int })
      .partial()
      .strict(),
    output: z.object({ stdoutMaxBytes: int, stderrMaxBytes: int }).partial().strict(),
    perToken: z.object({ maxConcurrentScans: int, maxSlotSharePercent: int, maxQueuedScans: int }).partial().strict(),
  })
  .partial()
  .strict();

export type PolicyInput = z.input<typeof PolicyInputSchema>;

export type ResolvePolicyResult = { ok: true; policy: Policy; clamps: PolicyClamp[] } | { ok: false; error: ScanError };

/**
 * Builds a complete Policy from a partial one laid over `base` (the defaults unless given). Numbers outside
 * their range are clamped and each clamp is reported; wrong types, unknown keys, bad CIDRs and bad suffixes
 * are errors, since guessing what an admin meant is not safe.
 */
export function resolvePolicy(input: unknown, base: Readonly<Policy> = DEFAULT_POLICY): ResolvePolicyResult {
  const parsed = PolicyInputSchema.safeParse(input ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.join('.') || 'policy';
    return {
      ok: false,
      error: scanError(
        'validation_error',
        `Invalid policy at ${where}: ${issue?.message ?? 'malformed'}`,
        'Send a JSON object with only the documented policy keys, numbers as integers and flags as booleans.',
        { details: { path: where } },
      ),
    };
  }
  const given = parsed.data;
  const clamps: PolicyClamp[] = [];
  const clamp = (key: NumericKey, requested: number | undefined, fallback: number): number => {
    if (requested === undefined) return fallback;
    const range = POLICY_RANGES[key];
    const applied = Math.min(range[1], Math.max(range[0], requested));
    if (applied !== requested) clamps.push({ key, requested, applied, range });
    return applied;
  };

  const allowedNetworks: string[] = [];
  for (const network of given.allowedNetworks ?? base.allowedNetworks) {
    const canonical = canonicalNetwork(network);
    if (typeof canonical !== 'string') {
      return {
        ok: false,
        error: scanError(
          'validation_error',
          `Invalid allowed network ${JSON.stringify(network)}: ${canonical.problem}`,
          'Give networks in CIDR form with the host bits zero, e.g. 10.20.0.0/16 or fd00:1::/64.',
          { details: { network } },
        ),
      };
    }
    if (!allowedNetworks.includes(canonical)) allowedNetworks.push(canonical);
  }

  const allowedHostSuffixes: string[] = [];
  for (const suffix of given.allowedHostSuffixes ?? base.allowedHostSuffixes) {
    const canonical = canonicalSuffix(suffix);
    if (canonical === undefined) {
      return {
        ok: false,
        error: scanError(
          'validation_error',
          `Invalid host suffix ${JSON.stringify(suffix)}: it must be a DNS name of at least two labels`,
          'Give suffixes like .lab.internal (letters, digits and hyphens; a leading dot is added).',
          { details: { suffix } },
        ),
      };
    }
    if (!allowedHostSuffixes.includes(canonical)) allowedHostSuffixes.push(canonical);
  }

  const recoveryTimeoutSec = clamp(
    'breaker.recoveryTimeoutSec',
    given.breaker?.recoveryTimeoutSec,
    base.breaker.recoveryTimeoutSec,
  );
  let maxRecoveryTimeoutSec = clamp(
    'breaker.maxRecoveryTimeoutSec',
    given.breaker?.maxRecoveryTimeoutSec,
    base.breaker.maxRecoveryTimeoutSec,
  );
  if (maxRecoveryTimeoutSec < recoveryTimeoutSec) {
    // The cap can never sit below the first wait; say so rather than let backoff shrink it.
    clamps.push({
      key: 'breaker.maxRecoveryTimeoutSec',
      requested: maxRecoveryTimeoutSec,
      applied: recoveryTimeoutSec,
      range: [recoveryTimeoutSec, POLICY_RANGES['breaker.maxRecoveryTimeoutSec'][1]],
    });
    maxRecoveryTimeoutSec = recoveryTimeoutSec;
  }

  const policy: Policy = {
    allowedNetworks,
    allowedHostSuffixes,
    maxHosts: clamp('maxHosts', given.maxHosts, base.maxHosts),
    maxTargets: clamp('maxTargets', given.maxTargets, base.maxTargets),
    maxPortRanges: clamp('maxPortRanges', given.maxPortRanges, base.maxPortRanges),
    allowIntrusive: given.allowIntrusive ?? base.allowIntrusive,
    allowEvasion: given.allowEvasion ?? base.allowEvasion,
    requireFence: given.requireFence ?? base.requireFence,
    defaultTimeoutSec: clamp('defaultTimeoutSec', given.defaultTimeoutSec, base.defaultTimeoutSec),
    rateLimitPerMinute: clamp('rateLimitPerMinute', given.rateLimitPerMinute, base.rateLimitPerMinute),
    breaker: {
      failureThreshold: clamp(
        'breaker.failureThreshold',
        given.breaker?.failureThreshold,
        base.breaker.failureThreshold,
      ),
      recoveryTimeoutSec,
      maxRecoveryTimeoutSec,
    },
    output: {
      stdoutMaxBytes: clamp('output.stdoutMaxBytes', given.output?.stdoutMaxBytes, base.output.stdoutMaxBytes),
      stderrMaxBytes: clamp('output.stderrMaxBytes', given.output?.stderrMaxBytes, base.output.stderrMaxBytes),
    },
    perToken: {
      maxConcurrentScans: clamp(
        'perToken.maxConcurrentScans',
        given.perToken?.maxConcurrentScans,
        base.perToken.maxConcurrentScans,
      ),
      maxSlotSharePercent: clamp(
        'perToken.maxSlotSharePercent',
        given.perToken?.maxSlotSharePercent,
        base.perToken.maxSlotSharePercent,
      ),
      maxQueuedScans: clamp('perToken.maxQueuedScans', given.perToken?.maxQueuedScans, base.perToken.maxQueuedScans),
    },
  };
  return { ok: true, policy, clamps };
}

/** A human line for a clamp, for warnings and audit entries. */
export function describeClamp(c: PolicyClamp): string {
  return `${c.key} ${c.requested} is outside ${c.range[0]}–${c.range[1]}; using ${c.applied}`;
}
