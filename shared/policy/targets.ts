import ipaddr from 'ipaddr.js';
import { scanError, type ScanError } from '../errors/index.ts';
import { asciiLookalike, describeCharacter, firstOddCharacter } from './characters.ts';

/**
 * Targets: IPv4/IPv6 addresses, CIDR networks and lab hostnames, parsed in their strict forms only.
 *
 * Everything nmap would read in a surprising way is refused rather than reinterpreted: shorthand and
 * numeric IPv4 (`127.1`, `0x7f000001`, `2130706433`, `0177.0.0.1`), octet ranges and wildcards, zone ids,
 * host bits in a CIDR, anything with whitespace or a comma, anything that starts with `-`.
 */
export type Target =
  | { kind: 'address'; value: string; family: 4 | 6; addresses: 1 }
  | { kind: 'network'; value: string; family: 4 | 6; prefix: number; addresses: number }
  | { kind: 'hostname'; value: string; addresses: 1 };

type Address = ipaddr.IPv4 | ipaddr.IPv6;

/** A policy's networks and suffixes in parsed form (built once per policy value, see compileTargetRules). */
export interface TargetRules {
  networks: ReadonlyArray<{ address: Address; prefix: number; text: string }>;
  suffixes: readonly string[];
  maxHosts: number;
  maxTargets: number;
}

export type TargetResult = { ok: true; target: Target; warning?: string } | { ok: false; error: ScanError };

const MAX_HOSTNAME = 253;
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const DOTTED_DECIMAL = /^(?:0|[1-9][0-9]{0,2})(?:\.(?:0|[1-9][0-9]{0,2})){3}$/;
const PREFIX = /^(?:0|[1-9][0-9]{0,2})$/;
/** Looks numeric enough that a resolver or nmap might read it as an address (127.1, 0x7f.1, 2130706433). */
const NUMERIC_LOOKING = /^(?:0x[0-9a-f]+|[0-9]+)(?:\.(?:0x[0-9a-f]+|[0-9]+))*$/i;
/** nmap's own range syntax (10.0.0-4.1, 10.0.*.*), which no strict form allows. */
const NMAP_RANGE = /[*]|^[0-9.]*[0-9]-[0-9][0-9.-]*(?:\/[0-9]+)?$/;

function reject(
  target: string,
  message: string,
  recoverySuggestion: string,
  fixedTarget?: { to: string; addArgs?: string[] },
): TargetResult {
  const details = fixedTarget ? { target, fixedTarget: { from: target, ...fixedTarget } } : { target };
  return { ok: false, error: scanError('validation_error', message, recoverySuggestion, { details }) };
}

const URL_FORM = /^[a-z][a-z0-9+.-]*:\/\//i;
const BRACKETED = /^\[([0-9a-f:.]+)\](?::([0-9]{1,5}))?$/i;
const HOST_PORT = /^([^:]+):([0-9]{1,5})$/;

/**
 * Forms people paste from browsers and configs: a URL, `[v6]` or `[v6]:port`, `host:port`. Names the form and
 * offers the host alone, with the port as `-p`, when the host itself is a valid target.
 */
function pastedForm(raw: string, shown: string, rules: TargetRules): TargetResult | undefined {
  let host: string | undefined;
  let port: string | undefined;
  let form: string;
  if (URL_FORM.test(raw)) {
    form = 'a URL';
    try {
      const url = new URL(raw);
      host = url.hostname.replace(/^\[(.*)\]$/, '$1');
      port = url.port || undefined;
    } catch {
      host = undefined;
    }
  } else if (BRACKETED.test(raw)) {
    const m = BRACKETED.exec(raw)!;
    form = m[2] ? 'a bracketed IPv6 address with a port' : 'a bracketed IPv6 address';
    host = m[1];
    port = m[2];
  } else if (HOST_PORT.test(raw)) {
    const m = HOST_PORT.exec(raw)!;
    form = 'a host:port pair';
    host = m[1];
    port = m[2];
  } else {
    return undefined;
  }
  const usable = host !== undefined && host !== raw && parseTarget(host, rules).ok;
  const addArgs = port ? ['-p', port] : undefined;
  const fix = usable
    ? `Give the host alone (${host})${port ? ` and the port in args (-p ${port})` : ''}.`
    : 'Give only an IP address, a CIDR network or a lab hostname; ports go in args (-p 80).';
  return reject(
    raw,
    `Target ${shown} is ${form}; a target is an address, a network or a hostname only`,
    fix,
    usable ? { to: host!, ...(addArgs && { addArgs }) } : undefined,
  );
}

/** An IPv6 text ending in a dotted quad (`::ffff:10.0.0.5`, `::10.0.0.5`): the head and the IPv4 part. */
const EMBEDDED_IPV4 = /^(.*:)(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/;

/** Parses an IP literal in its strict form, or says why it is not one. */
function parseAddress(text: string): Address | string {
  if (text.includes(':')) {
    if (!ipaddr.IPv6.isValid(text)) return 'is not a valid IPv6 address';
    // ipaddr.js reads any embedded dotted quad as IPv4-mapped (`::10.0.0.5` as `::ffff:10.0.0.5`); nmap does not.
    // Rewrite the quad as two hextets so the address is the one nmap would scan.
    const embedded = EMBEDDED_IPV4.exec(text);
    if (embedded) {
      if (!DOTTED_DECIMAL.test(embedded[2]!) || !ipaddr.IPv4.isValidFourPartDecimal(embedded[2]!))
        return 'has an invalid embedded IPv4 part';
      const [a, b, c, d] = ipaddr.IPv4.parse(embedded[2]!).octets as [number, number, number, number];
      const hex = `${embedded[1]}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
      if (!ipaddr.IPv6.isValid(hex)) return 'is not a valid IPv6 address';
      return ipaddr.IPv6.parse(hex);
    }
    return ipaddr.IPv6.parse(text);
  }
  if (DOTTED_DECIMAL.test(text)) {
    // DOTTED_DECIMAL admits only plain decimal octets without leading zeros, so reading them is all that is left
    // (ipaddr.IPv4.parse would run its octal/hex-aware regexes again: the hottest path of validation).
    const octets = text.split('.').map(Number);
    return octets.every((o) => o <= 255) ? new ipaddr.IPv4(octets) : 'has an octet above 255';
  }
  if (NUMERIC_LOOKING.test(text)) {
    return 'is a shorthand, octal, hex or integer IPv4 form, which resolvers read in surprising ways';
  }
  return 'is not an IP address';
}

function familyOf(address: Address): 4 | 6 {
  return address.kind() === 'ipv4' ? 4 : 6;
}

function bits(address: Address): number {
  return address.kind() === 'ipv4' ? 32 : 128;
}

/** The canonical CIDR text of a network given by an admin, or why it is not acceptable. */
export function canonicalNetwork(text: string): string | { problem: string } {
  const slash = text.indexOf('/');
  if (slash < 0) return { problem: 'missing /prefix' };
  const address = parseAddress(text.slice(0, slash));
  const prefixText = text.slice(slash + 1);
  if (typeof address === 'string') return { problem: `address ${address}` };
  if (!PREFIX.test(prefixText) || Number(prefixText) > bits(address)) return { problem: 'bad prefix length' };
  const prefix = Number(prefixText);
  if (!isNetworkAddress(address, prefix)) return { problem: 'host bits are set' };
  return `${address.toString()}/${prefix}`;
}

/** `.lab.internal` form of an allowed hostname suffix, or undefined when it is not a valid DNS suffix. */
export function canonicalSuffix(text: string): string | undefined {
  const bare = text.toLowerCase().replace(/^\./, '').replace(/\.$/, '');
  const labels = bare.split('.');
  if (bare.length === 0 || bare.length > MAX_HOSTNAME - 2 || labels.length < 2) return undefined;
  return labels.every((l) => LABEL.test(l)) ? `.${bare}` : undefined;
}

function isNetworkAddress(address: Address, prefix: number): boolean {
  const bytes = address.toByteArray();
  for (let bit = prefix; bit < bytes.length * 8; bit++) {
    if ((bytes[bit >> 3]! >> (7 - (bit & 7))) & 1) return false;
  }
  return true;
}

function networkAddressOf(address: Address, prefix: number): string {
  const bytes = address.toByteArray();
  for (let bit = prefix; bit < bytes.length * 8; bit++) bytes[bit >> 3]! &= ~(1 << (7 - (bit & 7)));
  return ipaddr.fromByteArray(bytes).toString();
}

const rulesCache = new WeakMap<object, { key: readonly unknown[]; rules: TargetRules }>();

/** Parsed networks and suffixes of a policy, built once and reused while the policy's lists are unchanged. */
export function compileTargetRules(policy: {
  allowedNetworks: readonly string[];
  allowedHostSuffixes: readonly string[];
  maxHosts: number;
  maxTargets: number;
}): TargetRules {
  const key = [policy.allowedNetworks, policy.allowedHostSuffixes, policy.maxHosts, policy.maxTargets];
  const cached = rulesCache.get(policy);
  if (cached?.key.every((v, i) => v === key[i])) return cached.rules;
  const networks: Array<TargetRules['networks'][number]> = [];
  for (const text of policy.allowedNetworks) {
    try {
      const [address, prefix] = ipaddr.parseCIDR(text);
      networks.push({ address, prefix, text });
    } catch {
      // A network that does not parse allows nothing; resolvePolicy refuses such policies before they get here.
    }
  }
  const suffixes = policy.allowedHostSuffixes.map((s) => canonicalSuffix(s)).filter((s) => s !== undefined);
  const rules: TargetRules = { networks, suffixes, maxHosts: policy.maxHosts, maxTargets: policy.maxTargets };
  rulesCache.set(policy, { key, rules });
  return rules;
}

/** The narrowest allowed network that holds all of `address/prefix`, if any. */
function containingNetwork(rules: TargetRules, address: Address, prefix: number): string | undefined {
  let best: { text: string; prefix: number } | undefined;
  for (const net of rules.networks) {
    if (net.address.kind() !== address.kind() || net.prefix > prefix) continue;
    if (address.match(net.address, net.prefix) && (!best || net.prefix > best.prefix)) best = net;
  }
  return best?.text;
}

function servedList(rules: TargetRules): string {
  return rules.networks.map((n) => n.text).join(', ') || '(none)';
}

/** A target with a character outside printable ASCII: names it, and offers the plain-ASCII look-alike if it is a valid target. */
function oddCharacter(raw: string, shown: string, rules: TargetRules): TargetResult {
  const odd = firstOddCharacter(raw)!;
  const plain = asciiLookalike(raw);
  const usable = plain !== undefined && plain !== raw && parseTarget(plain, rules).ok;
  return reject(
    raw,
    `Target ${shown} contains ${describeCharacter(odd)}`,
    usable
      ? `Type it in plain ASCII: ${plain}.`
      : 'Type the target in plain ASCII letters, digits, dots, colons and slashes.',
    usable ? { to: plain } : undefined,
  );
}

/** Parses and checks one target against the rules. Never throws. */
export function parseTarget(raw: unknown, rules: TargetRules): TargetResult {
  if (typeof raw !== 'string') {
    return reject(String(raw), 'A target must be a string', 'Give an IP address, a CIDR network or a lab hostname.');
  }
  const shown = JSON.stringify(raw.length > 80 ? `${raw.slice(0, 80)}…` : raw);
  if (raw.length === 0) return reject(raw, 'Empty target', 'Give an IP address, a CIDR network or a lab hostname.');
  if (raw.length > MAX_HOSTNAME + 1) {
    return reject(raw, `Target ${shown} is longer than ${MAX_HOSTNAME} characters`, 'Give a shorter hostname.');
  }
  if (raw.startsWith('-')) {
    return reject(
      raw,
      `Target ${shown} starts with "-", which nmap would read as an option`,
      'Put options in args and only addresses, networks or hostnames in target.',
    );
  }
  for (let i = 0; i < raw.length; i++) {
    const code = raw.charCodeAt(i);
    if (code >= 0x7f || (code < 0x20 && code !== 0x09 && code !== 0x0a && code !== 0x0d))
      return oddCharacter(raw, shown, rules);
    if (code <= 0x20 || code === 0x2c) {
      return reject(
        raw,
        `Target ${shown} contains whitespace, a comma or a non-printable character`,
        'Give one target per list item (target: ["10.0.0.1", "10.0.0.2"]).',
      );
    }
  }
  if (raw.includes(':') || raw.startsWith('[')) {
    const pasted = pastedForm(raw, shown, rules);
    if (pasted) return pasted;
  }
  if (raw.includes('%')) {
    return reject(raw, `Target ${shown} has a zone id`, 'Scope ids are not accepted; give a global or ULA address.');
  }
  if (NMAP_RANGE.test(raw)) {
    return reject(
      raw,
      `Target ${shown} uses an nmap octet range or wildcard`,
      'Use CIDR notation instead, e.g. 10.0.0.0/29, or list the addresses.',
    );
  }

  const slash = raw.indexOf('/');
  const addressText = slash < 0 ? raw : raw.slice(0, slash);
  const looksLikeIp = addressText.includes(':') || NUMERIC_LOOKING.test(addressText);
  if (!looksLikeIp) {
    if (slash >= 0) {
      return reject(raw, `Target ${shown} puts a prefix on a hostname`, 'Give the hostname alone, or a CIDR network.');
    }
    return parseHostname(raw, shown, rules);
  }

  const parsed = parseAddress(addressText);
  if (typeof parsed === 'string') {
    return reject(
      raw,
      `Target ${shown} ${parsed}`,
      'Write IPv4 as four decimal octets (127.0.0.1) and IPv6 in standard form.',
    );
  }
  let address: Address = parsed;
  let warning: string | undefined;
  if (address.kind() === 'ipv6' && (address as ipaddr.IPv6).isIPv4MappedAddress()) {
    if (slash >= 0) {
      return reject(
        raw,
        `Target ${shown} is an IPv4-mapped IPv6 network`,
        'Give the IPv4 network in CIDR form instead.',
      );
    }
    address = (address as ipaddr.IPv6).toIPv4Address();
    warning = `IPv4-mapped address ${raw} is scanned as ${address.toString()}`;
  }

  let prefix = bits(address);
  if (slash >= 0) {
    const prefixText = raw.slice(slash + 1);
    if (!PREFIX.test(prefixText) || Number(prefixText) > prefix) {
      return reject(raw, `Target ${shown} has an invalid prefix length`, `Use a prefix from 0 to ${prefix}.`);
    }
    prefix = Number(prefixText);
  }

  const family = familyOf(address);
  const canonical = address.toString();
  // Containment first: a network that reaches outside the allowed ones is refused as such, host bits or not.
  if (!containingNetwork(rules, address, prefix)) {
    return reject(
      raw,
      `Target ${shown} is not ${slash < 0 ? 'inside' : 'wholly inside'} an allowed network`,
      `Scan only inside ${servedList(rules)}; an admin can change allowedNetworks.`,
    );
  }
  if (slash < 0)
    return {
      ok: true,
      target: { kind: 'address', value: canonical, family, addresses: 1 },
      ...(warning && { warning }),
    };
  if (!isNetworkAddress(address, prefix)) {
    const network = `${networkAddressOf(address, prefix)}/${prefix}`;
    return reject(
      raw,
      `Target ${shown} has host bits set below its /${prefix} prefix`,
      `Use the network address ${network}, or the single address ${canonical}.`,
      { to: network },
    );
  }

  const hostBits = bits(address) - prefix;
  const addresses = hostBits >= 53 ? Number.MAX_SAFE_INTEGER : 2 ** hostBits;
  if (addresses > rules.maxHosts) {
    const fit = bits(address) - Math.floor(Math.log2(rules.maxHosts));
    return {
      ok: false,
      error: scanError(
        'validation_error',
        `Target ${shown} has ${hostBits >= 53 ? `2^${hostBits}` : addresses} addresses, more than the ${rules.maxHosts} a scan may cover`,
        `Use a /${fit} or smaller (${2 ** (bits(address) - fit)} addresses), e.g. ${canonical}/${fit}, and scan the rest in further scans.`,
        { details: { target: raw, addresses, maxHosts: rules.maxHosts, suggestedPrefix: fit } },
      ),
    };
  }
  return { ok: true, target: { kind: 'network', value: `${canonical}/${prefix}`, family, prefix, addresses } };
}

function parseHostname(raw: string, shown: string, rules: TargetRules): TargetResult {
  let name = raw.toLowerCase();
  if (name.endsWith('.')) name = name.slice(0, -1);
  if (name.length === 0 || name.length > MAX_HOSTNAME) {
    return reject(raw, `Target ${shown} is not a valid hostname`, 'Give a hostname of at most 253 characters.');
  }
  const labels = name.split('.');
  if (!labels.every((l) => LABEL.test(l))) {
    return reject(
      raw,
      `Target ${shown} is not a valid hostname`,
      'Hostname labels are 1–63 letters, digits or inner hyphens (RFC 1123), separated by single dots.',
    );
  }
  const suffix = rules.suffixes.find((s) => name.endsWith(s) && name.length > s.length);
  if (!suffix) {
    return reject(
      raw,
      `Hostname ${shown} is not under an allowed suffix`,
      `Use a name under ${rules.suffixes.join(', ') || '(no suffix is allowed)'}, or give the host's IP address.`,
    );
  }
  return { ok: true, target: { kind: 'hostname', value: name, addresses: 1 } };
}

/**
 * Whether the CIDR `inner` lies wholly inside the CIDR `outer` (same family, prefix at least as long, same
 * network bits). Both must be valid CIDRs; anything else is not inside.
 */
export function networkWithin(inner: string, outer: string): boolean {
  try {
    const [innerAddress, innerPrefix] = ipaddr.parseCIDR(inner);
    const [outerAddress, outerPrefix] = ipaddr.parseCIDR(outer);
    return (
      innerAddress.kind() === outerAddress.kind() &&
      innerPrefix >= outerPrefix &&
      innerAddress.match(outerAddress as never, outerPrefix)
    );
  } catch {
    return false;
  }
}

/**
 * Whether `text` is an IP address, in strict form, that is one of `targets` or inside one of their networks.
 * Hostname targets match nothing: the edge cannot know their addresses.
 */
export function isTargetAddress(text: string, targets: readonly Target[]): boolean {
  if (!text.includes(':') && !DOTTED_DECIMAL.test(text)) return false;
  const address = parseAddress(text);
  if (typeof address === 'string') return false;
  const canonical = address.toString();
  return targets.some((t) => {
    if (t.kind === 'address') return t.value === canonical;
    if (t.kind !== 'network' || t.family !== familyOf(address)) return false;
    const [base] = ipaddr.parseCIDR(t.value);
    return address.match(base as never, t.prefix);
  });
}

export type TargetsResult =
  | { ok: true; targets: Target[]; warnings: string[]; family: 4 | 6 | undefined }
  | { ok: false; error: ScanError };

/**
 * Checks a request's targets as a whole: count, each target, duplicates, one address family, total
 * addresses. The edge cannot resolve lab names, so a hostname counts as one address here; the runner
 * resolves it and checks every address again.
 */
export function parseTargets(input: unknown, rules: TargetRules): TargetsResult {
  const list = typeof input === 'string' ? [input] : input;
  if (!Array.isArray(list) || list.length === 0) {
    return {
      ok: false,
      error: scanError(
        'validation_error',
        'No target given',
        'Set target to an IP address, CIDR network or lab hostname, or to a list of them.',
      ),
    };
  }
  if (list.length > rules.maxTargets) {
    return {
      ok: false,
      error: scanError(
        'validation_error',
        `${list.length} targets given; at most ${rules.maxTargets} are allowed in one scan`,
        'Split the targets over several scans, or cover neighbours with one CIDR network.',
        { details: { count: list.length, maxTargets: rules.maxTargets } },
      ),
    };
  }
  const targets: Target[] = [];
  const warnings: string[] = [];
  let family: 4 | 6 | undefined;
  let total = 0;
  for (const raw of list) {
    const result = parseTarget(raw, rules);
    if (!result.ok) return result;
    if (result.warning) warnings.push(result.warning);
    const target = result.target;
    if (targets.some((t) => t.value === target.value)) {
      warnings.push(`Duplicate target ${target.value} scanned once`);
      continue;
    }
    if (target.kind !== 'hostname') {
      if (family !== undefined && family !== target.family) {
        return {
          ok: false,
          error: scanError(
            'validation_error',
            `Target ${target.value} is IPv${target.family} but an earlier target is IPv${family}; nmap scans one family per run`,
            'Send IPv4 and IPv6 targets as two separate scans.',
            { details: { target: target.value } },
          ),
        };
      }
      family = target.family;
    }
    total += target.addresses;
    if (total > rules.maxHosts) {
      return {
        ok: false,
        error: scanError(
          'validation_error',
          `The targets cover ${total} addresses so far (at ${target.value}), more than the ${rules.maxHosts} a scan may cover`,
          'Scan fewer or smaller networks per request, or split them over several scans.',
          { details: { addresses: total, maxHosts: rules.maxHosts } },
        ),
      };
    }
    targets.push(target);
  }
  return { ok: true, targets, warnings, family };
}
