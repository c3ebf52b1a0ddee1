/**
 * What the CLI says when something goes wrong, worded for a person at a terminal. The edge's errors carry a
 * `recoverySuggestion` written for its HTTP API ("List your scans with GET /v1/scans") or shared with MCP
 * ("See list_templates"); the CLI keeps the edge's type and message and words the fix itself, per error type and
 * command, falling back to the edge's text with API names turned into commands. Pure: no I/O.
 */

export interface EdgeError {
  type: string;
  message: string;
  recoverySuggestion?: string;
  retryAfterSec?: number;
  details?: Record<string, unknown>;
}

const ADMIN_COMMANDS = new Set(['runners', 'breakers', 'tokens']);

/** API and MCP names in a suggestion, and what a CLI user types instead. */
const TRANSLATIONS: Array<[RegExp, string]> = [
  [/scanner_info \(MCP\) or GET \/v1\/scripts/g, 'GET /v1/scripts on the edge'],
  [/\bGET \/v1\/scans\b/g, '`scangate list`'],
  [/\bGET \/v1\/runners\b/g, '`scangate runners`'],
  [/\bGET \/v1\/breakers\b/g, '`scangate breakers`'],
  [/\bPOST \/v1\/runners\b/g, '`scangate tokens create --role runner`'],
  [/\bPOST \/v1\/tokens\b/g, '`scangate tokens create`'],
  [/\bGET \/v1\/tokens\b/g, 'the dashboard'],
  [/\(PUT \/v1\/policy\)/g, '(on the dashboard)'],
  [/\bPUT \/v1\/policy\b/g, 'the dashboard'],
  [/\blist_templates \/ the README\b/g, '`scangate help scan` and the README'],
  [/\blist_templates\b/g, '`scangate help scan`'],
];

/** The edge's suggestion with API and tool names replaced by the CLI's commands. */
export function translated(suggestion: string): string {
  return TRANSLATIONS.reduce((text, [pattern, replacement]) => text.replace(pattern, replacement), suggestion);
}

/** What to do about `error`, met while running `scangate <command>`. */
export function cliSuggestion(error: EdgeError, command: string): string {
  const fallback = translated(error.recoverySuggestion ?? '');
  switch (error.type) {
    case 'unauthorized':
      return 'check the token: pass --token or set SCANGATE_TOKEN, or run `npm start` again (it refreshes .scangate/local.json); an admin mints one with `scangate tokens create --role scan`';
    case 'forbidden':
      return ADMIN_COMMANDS.has(command)
        ? `\`scangate ${command}\` needs an admin token: pass --token <admin token> (with \`npm start\`, the adminToken in .scangate/local.json is used by itself)`
        : fallback;
    case 'not_found':
      if (command === 'get' || command === 'cancel') return 'run `scangate list` to see your scans and their ids';
      return fallback;
    case 'no_runner':
      return 'no connected runner serves that target: `scangate runners` shows the runners and their networks; start one for it (`scangate tokens create --role runner --network <cidr>`, then scangate-runner on a lab host)';
    case 'circuit_breaker_open':
      return '`scangate breakers` shows why the runner is failing; wait for the retry time below, or an admin resets the breaker on the dashboard';
    case 'rate_limited':
      return 'wait for the retry time below, then run it again';
    case 'validation_error':
      if (typeof error.details?.option === 'string' && /list_templates/.test(error.recoverySuggestion ?? '')) {
        return 'see `scangate help scan` for the templates, and the README for the nmap options scangate accepts';
      }
      return fallback;
    default:
      return fallback;
  }
}

/** An error from the edge, in the CLI's words. */
export function forCli(error: EdgeError, command: string): EdgeError {
  return { ...error, recoverySuggestion: cliSuggestion(error, command) };
}

/**
 * `scangate scan 127.0.0.5 -p 80`: nmap options typed loose on the command line. Given the arguments after `scan`
 * and the CLI's own option names, returns the command the user meant (`--args "-p 80"`), or undefined when every
 * dash-argument is the CLI's own. Targets are the bare words before the first nmap option.
 */
export function looseNmapOptions(
  args: string[],
  own: ReadonlySet<string>,
): { nmapArgs: string; suggestion: string } | undefined {
  const isOwn = (arg: string) => own.has(arg.replace(/=.*$/, ''));
  const takesValue = (arg: string) => !arg.includes('=') && !['--json', '--output', '--help', '-h'].includes(arg);
  const targets: string[] = [];
  const kept: string[] = [];
  const nmap: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') continue;
    if (isOwn(arg)) {
      kept.push(arg);
      if (takesValue(arg) && i + 1 < args.length) kept.push(args[++i]!); // its value, whatever it looks like
    } else if (nmap.length === 0 && !arg.startsWith('-')) {
      targets.push(arg);
    } else {
      nmap.push(arg);
    }
  }
  if (nmap.length === 0) return undefined;
  const nmapArgs = nmap.join(' ');
  const quoted = (text: string) => (/^[\w@%+=:,./-]+$/.test(text) ? text : `"${text.replace(/(["\\$`])/g, '\\$1')}"`);
  const suggestion = ['scangate scan', ...targets.map(quoted), ...kept.map(quoted), '--args', quoted(nmapArgs)].join(
    ' ',
  );
  return { nmapArgs, suggestion };
}
