import { parseArgs } from 'node:util';
import { canonicalNetwork } from '../shared/policy/targets.ts';

/** Exit codes of scangate-runner. Distinct so systemd and scripts can tell a bad token from a crash. */
export const EXIT = { ok: 0, fatal: 1, usage: 2, unauthorized: 3, protocol: 4 } as const;

export interface RunnerConfig {
  /** Full WebSocket URL of the edge's runner endpoint. */
  connectUrl: string;
  token: string;
  networks: string[];
  maxConcurrency: number;
  nmap: string;
  graceSec: number;
  /** The lab admin's own consent, on top of the edge policy's: both must allow it. */
  allowIntrusive: boolean;
  allowEvasion: boolean;
}

export type Command = { kind: 'help' } | { kind: 'version' } | { kind: 'run'; config: RunnerConfig } | { kind: 'doctor'; config: Partial<RunnerConfig> };

export type ParseResult = { ok: true; command: Command } | { ok: false; message: string };

export const USAGE = `Usage: scangate-runner <run|doctor> [options]

  run      connect to the scangate edge and run the scans it dispatches
  doctor   check nmap, privileges, prlimit and the edge connection, then exit

Options (environment variable in brackets):
  --server <url>          edge URL, ws:// (loopback only) or wss:// [SCANGATE_SERVER]
  --token-file <path>     file holding the runner token [SCANGATE_TOKEN_FILE]; or set SCANGATE_RUNNER_TOKEN
  --network <cidr>        a network this runner may scan; repeat for more (required) [SCANGATE_NETWORKS, comma-separated]
  --max-concurrency <n>   scans at once, 1-64 (default 2) [SCANGATE_MAX_CONCURRENCY]
  --nmap <path>           nmap binary (default: nmap on PATH) [SCANGATE_NMAP]
  --grace <sec>           on SIGTERM, let running scans finish this long, 0-3600 (default 30) [SCANGATE_GRACE]
  --allow-intrusive       also allow intrusive scans when the edge policy does [SCANGATE_ALLOW_INTRUSIVE=1]
  --allow-evasion         also allow evasion options when the edge policy does [SCANGATE_ALLOW_EVASION=1]
  --version, --help`;

const OPTIONS = {
  server: { type: 'string' },
  'token-file': { type: 'string' },
  network: { type: 'string', multiple: true },
  'max-concurrency': { type: 'string' },
  nmap: { type: 'string' },
  grace: { type: 'string' },
  'allow-intrusive': { type: 'boolean' },
  'allow-evasion': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} as const;

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

function integerIn(name: string, text: string | undefined, fallback: number, min: number, max: number): number | string {
  if (text === undefined || text === '') return fallback;
  if (!/^[0-9]+$/.test(text) || Number(text) < min || Number(text) > max) return `${name} must be a whole number from ${min} to ${max}, not "${text}"`;
  return Number(text);
}

/**
 * Reads the command line and `SCANGATE_*` environment (flags win). Pure apart from `readFile`, which is
 * given the token file's path. Every problem is one line for the person at the terminal.
 */
export function parseCommandLine(
  argv: readonly string[],
  env: Record<string, string | undefined>,
  readFile: (path: string) => string,
): ParseResult {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    return { ok: false, message: (e as Error).message.split('\n')[0]!.replace(/\. To specify a positional.*$/, '') };
  }
  const { values, positionals } = parsed;
  if (values.help) return { ok: true, command: { kind: 'help' } };
  if (values.version) return { ok: true, command: { kind: 'version' } };
  const [sub, ...extra] = positionals;
  if (sub !== 'run' && sub !== 'doctor') return { ok: false, message: sub ? `unknown command "${sub}"; use run or doctor` : 'no command given; use run or doctor (see --help)' };
  if (extra.length > 0) return { ok: false, message: `unexpected argument "${extra[0]}"` };

  const partial: Partial<RunnerConfig> = {};
  const problems: string[] = [];

  const server = values.server ?? env.SCANGATE_SERVER;
  if (server) {
    let url: URL | undefined;
    try {
      url = new URL(server);
    } catch {
      problems.push(`--server "${server}" is not a URL`);
    }
    if (url) {
      if (url.protocol !== 'ws:' && url.protocol !== 'wss:') problems.push(`--server must be a ws:// or wss:// URL, not ${url.protocol}//`);
      else if (url.protocol === 'ws:' && !LOOPBACK_HOSTS.has(url.hostname)) {
        problems.push('--server uses ws:// to a remote host, which would send the token in clear; use wss://');
      } else {
        if (url.pathname === '/' || url.pathname === '') url.pathname = '/v1/runners/connect';
        partial.connectUrl = url.toString();
      }
    }
  }

  const tokenFile = values['token-file'] ?? env.SCANGATE_TOKEN_FILE;
  if (tokenFile) {
    try {
      partial.token = readFile(tokenFile).trim();
    } catch (e) {
      problems.push(`cannot read --token-file ${tokenFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  } else if (env.SCANGATE_RUNNER_TOKEN) {
    partial.token = env.SCANGATE_RUNNER_TOKEN.trim();
  }
  if (partial.token !== undefined && !/^[\x21-\x7e]{16,512}$/.test(partial.token)) {
    problems.push('the runner token must be 16-512 printable characters without spaces');
  }

  const networks = values.network ?? (env.SCANGATE_NETWORKS ?? '').split(/[\s,]+/).filter(Boolean);
  partial.networks = [];
  for (const network of networks) {
    const canonical = canonicalNetwork(network);
    if (typeof canonical === 'string') {
      if (!partial.networks.includes(canonical)) partial.networks.push(canonical);
    } else problems.push(`--network ${network}: ${canonical.problem} (write it like 10.20.0.0/16)`);
  }

  const concurrency = integerIn('--max-concurrency', values['max-concurrency'] ?? env.SCANGATE_MAX_CONCURRENCY, 2, 1, 64);
  const grace = integerIn('--grace', values.grace ?? env.SCANGATE_GRACE, 30, 0, 3600);
  for (const v of [concurrency, grace]) if (typeof v === 'string') problems.push(v);
  partial.maxConcurrency = typeof concurrency === 'number' ? concurrency : 2;
  partial.graceSec = typeof grace === 'number' ? grace : 30;
  partial.nmap = values.nmap ?? env.SCANGATE_NMAP ?? 'nmap';
  partial.allowIntrusive = values['allow-intrusive'] ?? env.SCANGATE_ALLOW_INTRUSIVE === '1';
  partial.allowEvasion = values['allow-evasion'] ?? env.SCANGATE_ALLOW_EVASION === '1';

  if (problems.length > 0) return { ok: false, message: problems[0]! };
  if (sub === 'doctor') return { ok: true, command: { kind: 'doctor', config: partial } };

  if (!partial.connectUrl) return { ok: false, message: 'no --server given (or SCANGATE_SERVER)' };
  if (partial.token === undefined) return { ok: false, message: 'no runner token: give --token-file (or SCANGATE_TOKEN_FILE / SCANGATE_RUNNER_TOKEN)' };
  if (partial.networks.length === 0) {
    return { ok: false, message: 'no --network given: a runner must be told which networks it may scan (e.g. --network 10.20.0.0/16)' };
  }
  return { ok: true, command: { kind: 'run', config: partial as RunnerConfig } };
}
