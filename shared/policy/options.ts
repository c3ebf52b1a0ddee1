import { decoyList, duration, integer, macAddress, portList, type ValueRule } from './values.ts';

/**
 * The grammar of nmap options scangate accepts: exact spellings only, each with its own value rule.
 * Anything not in OPTIONS is refused; FORBIDDEN gives the reason for the options people are likely to try.
 */

/** Options in the same slot exclude each other (nmap would take one or quit). */
export type Slot = 'ports' | 'timing' | 'tcpScan' | 'verbosity' | 'versionIntensity' | 'sourcePort' | 'fragments';

export interface OptionSpec {
  /** Canonical spelling, as it appears in the canonical argv. */
  readonly name: string;
  /** Other exact spellings of the same option. */
  readonly aliases?: readonly string[];
  /** Value rule; absent for flags. */
  readonly value?: ValueRule;
  /** For short options: the value may be glued on (`-p80`, `-PS22`); 'only' means it can be nowhere else. */
  readonly attached?: 'allowed' | 'only';
  readonly slot?: Slot;
  readonly gate?: 'intrusive' | 'evasion';
  /** Needs raw sockets: only a privileged runner can honour it. */
  readonly privileged?: boolean;
  /** Chooses ports (so no default --top-ports is added). */
  readonly selectsPorts?: boolean;
  /** Chooses host discovery (so no default -Pn is added). */
  readonly discovery?: boolean;
  /** Scans ports or services, which -sn (ping only) excludes. */
  readonly portScan?: boolean;
  /** One line for people and agents. */
  readonly summary: string;
}

const MS = 1;
const S = 1000;
const H = 3_600_000;
const ports = portList(true);
const probePorts = portList(false);

export const OPTIONS: readonly OptionSpec[] = [
  // Scan types
  { name: '-sT', slot: 'tcpScan', portScan: true, summary: 'TCP connect scan (no privileges needed)' },
  { name: '-sS', slot: 'tcpScan', portScan: true, privileged: true, summary: 'TCP SYN scan' },
  { name: '-sA', slot: 'tcpScan', portScan: true, privileged: true, summary: 'TCP ACK scan' },
  { name: '-sF', slot: 'tcpScan', portScan: true, privileged: true, summary: 'TCP FIN scan' },
  { name: '-sN', slot: 'tcpScan', portScan: true, privileged: true, summary: 'TCP null scan' },
  { name: '-sX', slot: 'tcpScan', portScan: true, privileged: true, summary: 'TCP Xmas scan' },
  { name: '-sW', slot: 'tcpScan', portScan: true, privileged: true, summary: 'TCP window scan' },
  { name: '-sM', slot: 'tcpScan', portScan: true, privileged: true, summary: 'TCP Maimon scan' },
  { name: '-sU', portScan: true, privileged: true, summary: 'UDP scan' },
  { name: '-sn', summary: 'host discovery only, no port scan' },
  { name: '-sV', portScan: true, summary: 'service and version detection' },
  { name: '-sC', summary: 'default NSE scripts (external and broadcast excluded)' },
  {
    name: '-A',
    gate: 'intrusive',
    privileged: true,
    portScan: true,
    summary: '-sV -O --traceroute and default scripts',
  },
  { name: '-O', privileged: true, portScan: true, summary: 'OS detection' },
  { name: '--osscan-guess', summary: 'guess OS more aggressively' },
  { name: '--osscan-limit', summary: 'OS detection only on promising hosts' },
  { name: '--traceroute', privileged: true, summary: 'trace the hop path to each host' },
  // Ports
  {
    name: '-p',
    value: ports,
    attached: 'allowed',
    selectsPorts: true,
    slot: 'ports',
    portScan: true,
    summary: 'ports: 22,80,8000-8100 or - for all',
  },
  {
    name: '--top-ports',
    value: integer(1, 65535),
    selectsPorts: true,
    slot: 'ports',
    portScan: true,
    summary: 'the N most common ports',
  },
  { name: '-F', selectsPorts: true, slot: 'ports', portScan: true, summary: 'fast: the 100 most common ports' },
  { name: '-r', summary: 'scan ports in order' },
  // Host discovery. ICMP, UDP and SCTP probes need raw sockets: nmap quits without them (-PU, -PY) or quietly
  // falls back to a TCP ping (-PE, -PP, -PM), neither of which is what was asked for.
  { name: '-Pn', discovery: true, summary: 'skip host discovery (treat hosts as up)' },
  {
    name: '-PS',
    value: probePorts,
    attached: 'only',
    discovery: true,
    summary: 'TCP SYN ping, optional ports glued on (-PS22,80)',
  },
  { name: '-PA', value: probePorts, attached: 'only', discovery: true, summary: 'TCP ACK ping' },
  { name: '-PU', value: probePorts, attached: 'only', discovery: true, privileged: true, summary: 'UDP ping' },
  { name: '-PY', value: probePorts, attached: 'only', discovery: true, privileged: true, summary: 'SCTP INIT ping' },
  { name: '-PE', discovery: true, privileged: true, summary: 'ICMP echo ping' },
  { name: '-PP', discovery: true, privileged: true, summary: 'ICMP timestamp ping' },
  { name: '-PM', discovery: true, privileged: true, summary: 'ICMP netmask ping' },
  { name: '--disable-arp-ping', summary: 'no ARP or ND ping' },
  { name: '-n', summary: 'never resolve DNS' },
  { name: '-6', summary: 'IPv6 (added automatically for IPv6 targets)' },
  // Timing and performance
  { name: '-T0', slot: 'timing', summary: 'paranoid timing' },
  { name: '-T1', slot: 'timing', summary: 'sneaky timing' },
  { name: '-T2', slot: 'timing', summary: 'polite timing' },
  { name: '-T3', slot: 'timing', summary: 'normal timing' },
  { name: '-T4', slot: 'timing', summary: 'aggressive timing (default)' },
  { name: '-T5', slot: 'timing', summary: 'insane timing' },
  { name: '--min-rate', value: integer(1, 100_000), summary: 'packets per second, at least (1–100000)' },
  { name: '--max-rate', value: integer(1, 100_000), summary: 'packets per second, at most (1–100000)' },
  { name: '--max-retries', value: integer(0, 10), summary: 'probe retransmissions (0–10)' },
  { name: '--max-parallelism', value: integer(1, 256), summary: 'probes in flight, at most (1–256)' },
  { name: '--min-parallelism', value: integer(1, 256), summary: 'probes in flight, at least (1–256)' },
  { name: '--host-timeout', value: duration(1 * S, 24 * H), summary: 'give up on a host after this long (e.g. 5m)' },
  { name: '--scan-delay', value: duration(0 * MS, 60 * S), summary: 'wait between probes (≤ 60s)' },
  { name: '--max-scan-delay', value: duration(0 * MS, 60 * S), summary: 'cap on adaptive delay (≤ 60s)' },
  { name: '--script-timeout', value: duration(1 * S, 24 * H), summary: 'cap on each script run (e.g. 30s)' },
  // Version detection
  {
    name: '--version-intensity',
    value: integer(0, 9),
    slot: 'versionIntensity',
    summary: 'version probe intensity (0–9)',
  },
  { name: '--version-light', slot: 'versionIntensity', summary: 'version intensity 2' },
  { name: '--version-all', slot: 'versionIntensity', summary: 'version intensity 9' },
  // Scripts (values are handled in args.ts, which knows the policy)
  { name: '--script', summary: 'comma list of allowed script names or categories' },
  { name: '--script-args', gate: 'intrusive', summary: 'key=value script arguments (intrusive policy only)' },
  // Output shape
  { name: '-v', slot: 'verbosity', summary: 'verbose' },
  { name: '-vv', slot: 'verbosity', summary: 'very verbose' },
  { name: '--open', summary: 'show only open ports' },
  { name: '--reason', summary: 'show why a port is in its state' },
  { name: '--randomize-hosts', summary: 'scan hosts in random order' },
  // Evasion (policy allowEvasion); all of them shape raw packets, so they need a privileged runner
  { name: '-f', slot: 'fragments', gate: 'evasion', privileged: true, summary: 'fragment packets' },
  {
    name: '--mtu',
    value: integer(8, 1500, (n) => (n % 8 === 0 ? undefined : 'is not a multiple of 8')),
    slot: 'fragments',
    gate: 'evasion',
    privileged: true,
    summary: 'fragment size, a multiple of 8',
  },
  {
    name: '-D',
    value: decoyList,
    gate: 'evasion',
    privileged: true,
    summary: 'decoys inside the allowed networks (≤ 8, never RND)',
  },
  {
    name: '-g',
    aliases: ['--source-port'],
    value: integer(1, 65535),
    slot: 'sourcePort',
    gate: 'evasion',
    privileged: true,
    summary: 'source port',
  },
  {
    name: '--data-length',
    value: integer(0, 1400),
    gate: 'evasion',
    privileged: true,
    summary: 'random payload bytes (≤ 1400)',
  },
  { name: '--ttl', value: integer(1, 255), gate: 'evasion', privileged: true, summary: 'IP time-to-live (1–255)' },
  {
    name: '--spoof-mac',
    value: macAddress,
    gate: 'evasion',
    privileged: true,
    summary: 'MAC address, or 0 for random',
  },
  { name: '--badsum', gate: 'evasion', privileged: true, summary: 'bogus checksums' },
];

/** Every accepted spelling → its spec. */
export const OPTIONS_BY_SPELLING: ReadonlyMap<string, OptionSpec> = new Map(
  OPTIONS.flatMap((spec) => [spec.name, ...(spec.aliases ?? [])].map((spelling) => [spelling, spec] as const)),
);

/** Short options whose value may be glued on, longest first (so -PS is tried before -P). */
export const ATTACHED_PREFIXES: readonly OptionSpec[] = OPTIONS.filter((s) => s.attached).sort(
  (a, b) => b.name.length - a.name.length,
);

/** Options people try that are never allowed, with the reason. Matched by exact spelling. */
export const FORBIDDEN: ReadonlyMap<string, string> = new Map([
  ['-iL', 'reads targets from a file'],
  ['-iR', 'scans random internet hosts'],
  ['--resume', 'reads a file'],
  ['--datadir', 'points nmap at another data directory'],
  ['--servicedb', 'reads a file'],
  ['--versiondb', 'reads a file'],
  ['--stylesheet', 'names a file'],
  ['--webxml', 'changes the runner-owned XML output'],
  ['--no-stylesheet', 'changes the runner-owned XML output'],
  ['--excludefile', 'reads a file'],
  ['--script-args-file', 'reads a file'],
  ['--script-updatedb', "writes to nmap's script database"],
  ['--append-output', 'changes the runner-owned output files'],
  ['--log-errors', 'changes the runner-owned output'],
  ['--stats-every', 'is set by the runner itself'],
  ['--noninteractive', 'is set by the runner itself'],
  ['-e', 'picks the network interface'],
  ['-S', 'spoofs the source address'],
  ['--privileged', 'claims privileges the runner decides on'],
  ['--unprivileged', "overrides the runner's own privilege decision"],
  ['--send-eth', 'sends raw ethernet frames'],
  ['--send-ip', 'changes how raw packets are sent'],
  ['--proxies', 'relays connections through other hosts'],
  ['--proxy', 'relays connections through other hosts'],
  ['-sI', 'bounces an idle scan off a third host'],
  ['-b', 'bounces an FTP scan off a third host'],
  ['--dns-servers', 'sends lookups to other servers'],
  ['--exclude', 'takes a host list outside the target field'],
  ['-sL', 'lists targets through reverse DNS instead of scanning'],
  ['-sO', 'sends raw IP protocol probes'],
  ['-sY', 'sends raw SCTP probes'],
  ['-sZ', 'sends raw SCTP probes'],
  ['--packet-trace', 'floods the output with every packet'],
  ['-d', 'floods the output with debugging'],
  ['--interactive', 'opened a shell in old nmap versions'],
]);
