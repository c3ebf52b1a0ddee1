/**
 * Value rules for nmap options. Each takes the raw value and returns the canonical value or a problem with a
 * fix. Numbers are plain decimal integers (no sign, no leading zeros, no exponent): anything nmap would read
 * differently from a person is refused.
 */
export type ValueResult = { ok: true; value: string } | { ok: false; problem: string; fix: string };

export interface ValueContext {
  maxPortRanges: number;
  /** Whether an address may be used as a decoy (inside an allowed network). */
  isAllowedAddress: (text: string) => boolean;
}

export type ValueRule = (value: string, ctx: ValueContext) => ValueResult;

const DECIMAL = /^(?:0|[1-9][0-9]{0,8})$/;

function ok(value: string): ValueResult {
  return { ok: true, value };
}

function bad(problem: string, fix: string): ValueResult {
  return { ok: false, problem, fix };
}

/** An integer from min to max, inclusive. */
export function integer(min: number, max: number, extra?: (n: number) => string | undefined): ValueRule {
  return function integerRule(value) {
    if (!DECIMAL.test(value))
      return bad(`"${value}" is not a plain decimal integer`, `Give a whole number from ${min} to ${max}.`);
    const n = Number(value);
    if (n < min || n > max)
      return bad(`${value} is outside ${min}–${max}`, `Give a whole number from ${min} to ${max}.`);
    const problem = extra?.(n);
    return problem
      ? bad(problem, `Give a whole number from ${min} to ${max} that ${problem.replace(/^is not /, 'is ')}.`)
      : ok(value);
  };
}

const PORT_ITEM = /^(0|[1-9][0-9]{0,4})(?:-(0|[1-9][0-9]{0,4}))?$/;

/**
 * Port lists: `N` and `N-M` items, 1 ≤ N ≤ M ≤ 65535, at most maxPortRanges items. `-` alone (all ports) only
 * where `allowAll` is set (for `-p`, not for ping probes).
 */
export function portList(allowAll: boolean): ValueRule {
  return function portListRule(value, ctx) {
    if (allowAll && value === '-') return ok('-');
    const items = value.split(',');
    if (items.length > ctx.maxPortRanges) {
      return bad(
        `${items.length} port items, more than the ${ctx.maxPortRanges} allowed`,
        'Merge neighbouring ports into ranges like 1-1024.',
      );
    }
    for (const item of items) {
      const m = PORT_ITEM.exec(item);
      if (!m) {
        return bad(
          `"${item}" is not a port or port range`,
          `Use ports and ranges like 22,80,8000-8100${allowAll ? ', or - for all ports' : ''}; no protocol prefixes or service names.`,
        );
      }
      const low = Number(m[1]);
      const high = m[2] === undefined ? low : Number(m[2]);
      if (low < 1 || high > 65535)
        return bad(`port ${low < 1 ? low : high} is outside 1–65535`, 'Ports run from 1 to 65535.');
      if (low > high) return bad(`range ${item} runs backwards`, `Write it as ${high}-${low}.`);
    }
    return ok(value);
  };
}

const TIME = /^(0|[1-9][0-9]{0,8})(ms|s|m|h)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A duration: integer plus ms/s/m/h, within [minMs, maxMs]. */
export function duration(minMs: number, maxMs: number): ValueRule {
  const span = `from ${formatMs(minMs)} to ${formatMs(maxMs)}`;
  return function durationRule(value) {
    const m = TIME.exec(value);
    if (!m)
      return bad(`"${value}" is not a duration`, `Give a whole number with a unit (ms, s, m or h), e.g. 30s, ${span}.`);
    const ms = Number(m[1]) * UNIT_MS[m[2]!]!;
    if (ms < minMs || ms > maxMs) return bad(`${value} is outside ${span}`, `Give a duration ${span}.`);
    return ok(value);
  };
}

function formatMs(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

const MAC = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/i;

/** `--spoof-mac`: a full MAC address, or 0 for a random one. Vendor names and prefixes are not taken. */
export const macAddress: ValueRule = function macRule(value) {
  if (value === '0') return ok('0');
  if (MAC.test(value)) {
    // The group bit makes it a broadcast or multicast address: every host on the segment would get the replies.
    if (parseInt(value.slice(0, 2), 16) & 1)
      return bad(
        `${value} is a broadcast or multicast MAC address`,
        'Give a unicast MAC (first byte even, e.g. 02:00:00:00:00:01) or 0 for a random one.',
      );
    return ok(value.toLowerCase());
  }
  return bad(
    `"${value}" is not a MAC address`,
    'Give six colon-separated hex bytes (02:00:00:00:00:01) or 0 for a random one.',
  );
};

const MAX_DECOYS = 8;

/** `-D`: up to 8 decoy addresses, each inside an allowed network, plus ME at most once; never RND. */
export const decoyList: ValueRule = function decoyRule(value, ctx) {
  const items = value.split(',');
  let me = 0;
  for (const item of items) {
    if (item === 'ME') {
      me++;
      continue;
    }
    if (item.startsWith('RND')) {
      return bad(
        'random decoys (RND) would send packets as addresses outside the lab',
        'List decoy addresses inside the allowed networks.',
      );
    }
    if (!ctx.isAllowedAddress(item)) {
      return bad(
        `decoy ${item} is not an address inside an allowed network`,
        'Use IP addresses inside the allowed networks as decoys.',
      );
    }
  }
  if (me > 1) return bad('ME appears more than once', 'Give ME at most once.');
  if (items.length - me === 0) return bad('no decoy address given', 'List at least one decoy address.');
  if (items.length - me > MAX_DECOYS)
    return bad(`${items.length - me} decoys, more than ${MAX_DECOYS}`, `Give at most ${MAX_DECOYS} decoys.`);
  return ok(value);
};
