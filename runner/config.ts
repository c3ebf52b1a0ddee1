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

/**
 * What the command line, the shell and the env file said, each part with its own problem (if any): `run` stops at
 * the first problem, `doctor` reports every one as a row.
 */
export interface Settings {
  /** The systemd EnvironmentFile read (--env-file, or doctor's default when it exists). */
  envFile?: { path: string; keys: string[]; problem?: string; explicit: boolean; overridden: string[] };
  server: { raw?: string; connectUrl?: string; problem?: string };
  token: { source?: 'file' | 'env'; path?: string; value?: string; problem?: string };
  networks: { declared: string[]; problems: string[] };
  /** Problems with the remaining options (concurrency, grace). */
  other: string[];
  nmap: string;
  maxConcurrency: number;
  graceSec: number;
  allowIntrusive: boolean;
  allowEvasion: boolean;
}

export type Command =
  | { kind: 'help' }
  | { kind: 'version' }
  | { kind: 'run'; config: RunnerConfig }
  | { kind: 'doctor'; settings: Settings };

export type ParseResult = { ok: true; command: Command } | { ok: false; message: string };

/** Where the systemd unit reads its settings (scangate-runner.service, EnvironmentFile=): doctor reads it too. */
export const SERVICE_ENV_FILE = '/etc/scangate/runner.env';

export const USAGE = `Usage: scangate-runner <run|doctor|install|uninstall> [options]

  run      connect to the scangate edge and run the scans it dispatches
  doctor   check every setting, tool and the edge (without touching a live runner's link), one row each, then exit
  update   replace this runner with the one the edge serves (hash checked) and restart it (update --help)
  install    set this host up as a runner (root): user, token, env file, unit, doctor, service
             --server <url> --enroll <code> [--network <cidr>…] [--raw-scans] [--root <dir>]; safe to run twice
  uninstall  stop and remove what install made [--root <dir>]

Options (environment variable in brackets):
  --server <url>          edge URL, ws:// (loopback only) or wss:// [SCANGATE_SERVER]
  --token-file <path>     file holding the runner token [SCANGATE_TOKEN_FILE]; or set SCANGATE_RUNNER_TOKEN
  --network <cidr>        a network this runner may scan; repeat for more (required) [SCANGATE_NETWORKS, comma-separated]
  --max-concurrency <n>   scans at once, 1-64 (default 2) [SCANGATE_MAX_CONCURRENCY]
  --nmap <path>           nmap binary (default: nmap on PATH) [SCANGATE_NMAP]
  --grace <sec>           on SIGTERM, let running scans finish this long, 0-3600 (default 30) [SCANGATE_GRACE]
  --allow-intrusive       also allow intrusive scans when the edge policy does [SCANGATE_ALLOW_INTRUSIVE=1]
  --allow-evasion         also allow evasion options when the edge policy does [SCANGATE_ALLOW_EVASION=1]
  --env-file <path>       read SCANGATE_* settings from this file, as the systemd unit does; the shell and flags
                          win (doctor reads ${SERVICE_ENV_FILE} by default when it exists)
  --version, --help`;

/** The options that configure a runner's link and scans, shared by `run`/`doctor` and `install` (which writes them). */
export const RUNNER_OPTIONS = {
  server: { type: 'string' },
  'token-file': { type: 'string' },
  network: { type: 'string', multiple: true },
  'max-concurrency': { type: 'string' },
  nmap: { type: 'string' },
  grace: { type: 'string' },
  'allow-intrusive': { type: 'boolean' },
  'allow-evasion': { type: 'boolean' },
} as const;

const OPTIONS = {
  ...RUNNER_OPTIONS,
  'env-file': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} as const;

/**
 * Loopback, where `ws://` cannot be overheard: localhost, all of 127.0.0.0/8 and ::1 (also IPv4-mapped). `URL`
 * has already normalised the host (127.1 → 127.0.0.1, ::ffff:127.0.0.5 → [::ffff:7f00:5]).
 */
export function isLoopbackHost(hostname: string): boolean {
  return (
    hostname === 'localhost' ||
    hostname === '[::1]' ||
    /^127\.\d+\.\d+\.\d+$/.test(hostname) ||
    /^\[::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}\]$/.test(hostname)
  );
}

function integerIn(
  name: string,
  text: string | undefined,
  fallback: number,
  min: number,
  max: number,
): number | string {
  if (text === undefined || text === '') return fallback;
  if (!/^[0-9]+$/.test(text) || Number(text) < min || Number(text) > max)
    return `${name} must be a whole number from ${min} to ${max}, not "${text}"`;
  return Number(text);
}

/**
 * A systemd EnvironmentFile: KEY=VALUE lines, `#` and `;` comments, values optionally in matching quotes. Lines
 * that are none of these are skipped, as systemd skips them.
 */
export function parseEnvFile(text: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const m = /^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!m) continue;
    let value = m[2]!;
    if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.at(-1) === value[0])
      value = value.slice(1, -1);
    vars[m[1]!] = value;
  }
  return vars;
}

function errnoOf(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? (e as Error).message;
}

function readToken(path: string, readFile: (path: string) => string): Settings['token'] {
  let text: string;
  try {
    text = readFile(path);
  } catch (e) {
    const code = errnoOf(e);
    const why =
      code === 'ENOENT'
        ? 'does not exist'
        : code === 'EACCES'
          ? `is not readable by uid ${process.getuid?.()} (EACCES)`
          : code === 'EISDIR'
            ? 'is a directory'
            : `cannot be read (${code})`;
    return { source: 'file', path, problem: `--token-file ${path} ${why}` };
  }
  return { source: 'file', path, value: text.trim() };
}

/**
 * Reads the command line, the `SCANGATE_*` environment and (with --env-file, or doctor's default) an env file;
 * flags win over the environment, the environment over the file. Pure apart from `readFile`, which is given the
 * token file's and the env file's paths. Every problem is one line for the person at the terminal.
 */
export function parseCommandLine(
  argv: readonly string[],
  shellEnv: Record<string, string | undefined>,
  readFile: (path: string) => string,
  defaultEnvFile: string = SERVICE_ENV_FILE,
): ParseResult {
  let parsed: ReturnType<
    typeof parseArgs<{ args: string[]; options: typeof OPTIONS; allowPositionals: true; strict: true }>
  >;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    return { ok: false, message: (e as Error).message.split('\n')[0]!.replace(/\. To specify a positional.*$/, '') };
  }
  const { values, positionals } = parsed;
  if (values.help) return { ok: true, command: { kind: 'help' } };
  if (values.version) return { ok: true, command: { kind: 'version' } };
  const [sub, ...extra] = positionals;
  if (sub !== 'run' && sub !== 'doctor')
    return {
      ok: false,
      message: sub ? `unknown command "${sub}"; use run or doctor` : 'no command given; use run or doctor (see --help)',
    };
  if (extra.length > 0) return { ok: false, message: `unexpected argument "${extra[0]}"` };

  // The env file: given, or (doctor only) the service's, when there is one.
  let env = shellEnv;
  let envFile: Settings['envFile'];
  const envPath = values['env-file'] ?? (sub === 'doctor' ? defaultEnvFile : undefined);
  if (envPath) {
    const explicit = values['env-file'] !== undefined;
    try {
      const fromFile = parseEnvFile(readFile(envPath));
      const keys = Object.keys(fromFile).filter((k) => k.startsWith('SCANGATE_'));
      const overridden = keys.filter((k) => shellEnv[k] !== undefined && shellEnv[k] !== fromFile[k]);
      env = { ...fromFile, ...shellEnv };
      envFile = { path: envPath, keys, explicit, overridden };
    } catch (e) {
      const code = errnoOf(e);
      if (explicit || code !== 'ENOENT')
        envFile = {
          path: envPath,
          keys: [],
          explicit,
          overridden: [],
          problem: `${envPath} ${code === 'ENOENT' ? 'does not exist' : `cannot be read (${code})`}`,
        };
    }
  }

  const settings: Settings = {
    ...(envFile && { envFile }),
    server: {},
    token: {},
    networks: { declared: [], problems: [] },
    other: [],
    nmap: values.nmap ?? env.SCANGATE_NMAP ?? 'nmap',
    maxConcurrency: 2,
    graceSec: 30,
    allowIntrusive: values['allow-intrusive'] ?? env.SCANGATE_ALLOW_INTRUSIVE === '1',
    allowEvasion: values['allow-evasion'] ?? env.SCANGATE_ALLOW_EVASION === '1',
  };

  const server = values.server ?? env.SCANGATE_SERVER;
  if (server) {
    settings.server.raw = server;
    let url: URL | undefined;
    try {
      url = new URL(server);
    } catch {
      settings.server.problem = `--server "${server}" is not a URL`;
    }
    if (url) {
      if (url.protocol !== 'ws:' && url.protocol !== 'wss:')
        settings.server.problem = `--server must be a ws:// or wss:// URL, not ${url.protocol}//`;
      else if (url.protocol === 'ws:' && !isLoopbackHost(url.hostname)) {
        settings.server.problem = `--server uses ws:// to ${url.hostname}, which is not loopback: the token would cross the network in clear; use wss://`;
      } else {
        if (url.pathname === '/' || url.pathname === '') url.pathname = '/v1/runners/connect';
        settings.server.connectUrl = url.toString();
      }
    }
  }

  const tokenFile = values['token-file'] ?? env.SCANGATE_TOKEN_FILE;
  if (tokenFile) settings.token = readToken(tokenFile, readFile);
  else if (env.SCANGATE_RUNNER_TOKEN) settings.token = { source: 'env', value: env.SCANGATE_RUNNER_TOKEN.trim() };
  if (settings.token.value !== undefined && !/^[\x21-\x7e]{16,512}$/.test(settings.token.value)) {
    settings.token.problem = `the runner token${settings.token.path ? ` in ${settings.token.path}` : ''} must be 16-512 printable characters without spaces`;
  }

  const networks = values.network ?? (env.SCANGATE_NETWORKS ?? '').split(/[\s,]+/).filter(Boolean);
  for (const network of networks) {
    const canonical = canonicalNetwork(network);
    if (typeof canonical === 'string') {
      if (!settings.networks.declared.includes(canonical)) settings.networks.declared.push(canonical);
    } else settings.networks.problems.push(`--network ${network}: ${canonical.problem} (write it like 10.20.0.0/16)`);
  }

  const concurrency = integerIn(
    '--max-concurrency',
    values['max-concurrency'] ?? env.SCANGATE_MAX_CONCURRENCY,
    2,
    1,
    64,
  );
  const grace = integerIn('--grace', values.grace ?? env.SCANGATE_GRACE, 30, 0, 3600);
  for (const v of [concurrency, grace]) if (typeof v === 'string') settings.other.push(v);
  if (typeof concurrency === 'number') settings.maxConcurrency = concurrency;
  if (typeof grace === 'number') settings.graceSec = grace;

  if (sub === 'doctor') return { ok: true, command: { kind: 'doctor', settings } };

  const problem =
    settings.envFile?.problem ??
    settings.server.problem ??
    settings.token.problem ??
    settings.networks.problems[0] ??
    settings.other[0];
  if (problem) return { ok: false, message: problem };
  if (!settings.server.connectUrl) return { ok: false, message: 'no --server given (or SCANGATE_SERVER)' };
  if (settings.token.value === undefined)
    return {
      ok: false,
      message: 'no runner token: give --token-file (or SCANGATE_TOKEN_FILE / SCANGATE_RUNNER_TOKEN)',
    };
  if (settings.networks.declared.length === 0) {
    return {
      ok: false,
      message: 'no --network given: a runner must be told which networks it may scan (e.g. --network 10.20.0.0/16)',
    };
  }
  const { server: _s, token: _t, networks: _n, other: _o, envFile: _e, ...rest } = settings;
  return {
    ok: true,
    command: {
      kind: 'run',
      config: {
        ...rest,
        connectUrl: settings.server.connectUrl,
        token: settings.token.value,
        networks: settings.networks.declared,
      },
    },
  };
}
