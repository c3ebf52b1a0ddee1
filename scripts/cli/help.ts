/**
 * The CLI's help texts: `scangate help`, `scangate --help`, `scangate help <command>`, `scangate <command> --help`.
 * Pure strings; the templates come from the policy module so the list cannot drift from what the edge accepts.
 */
import { TEMPLATE_DESCRIPTIONS, TEMPLATE_NAMES, TEMPLATES } from '../../shared/policy/templates.ts';
import { SCAN_STATUSES } from '../../shared/scan/index.ts';

interface CommandHelp {
  /** The synopsis line(s) after `scangate `. */
  synopsis: string;
  /** One line for the overview. */
  summary: string;
  /** More for `help <command>`. */
  more?: string;
}

const TEMPLATE_LINES = TEMPLATE_NAMES.map(
  (name) => `  ${name.padEnd(10)} ${TEMPLATE_DESCRIPTIONS[name]}  (${TEMPLATES[name]})`,
).join('\n');

export const COMMANDS: Readonly<Record<string, CommandHelp>> = {
  scan: {
    synopsis: 'scan <target…> [--template t] [--args "<nmap options>"] [--timeout sec] [--output] [--json]',
    summary: 'run a scan with a live progress bar, then a table of hosts and open ports',
    more: `nmap options go in ONE quoted --args value, checked by the edge's policy:
  scangate scan 127.0.0.1 --args "-sT -sV -p 22,80"
Options given in --args replace the template's option of the same kind (a warning says so).
Ctrl-C cancels the scan on the runner too.

templates (--template):
${TEMPLATE_LINES}`,
  },
  get: {
    synopsis: 'get <scan-id> [--output] [--json]',
    summary: 'a scan: its progress while it runs, then its report',
    more: "--output adds nmap's raw output; --json prints the scan as the API returns it.",
  },
  list: {
    synopsis: 'list [--status s] [--limit n] [--json]',
    summary: 'your recent scans, newest first (all scans with an admin token)',
    more: `statuses: ${SCAN_STATUSES.join(', ')}`,
  },
  diff: {
    synopsis: 'diff <scan-id> [<earlier-scan-id>] [--json]',
    summary: 'what changed since the previous scan of the same targets (or since the one named)',
    more: 'Closed or gone is said only when the newer scan probed it the same way; otherwise "not checked".',
  },
  inventory: {
    synopsis: 'inventory [--cidr c] [--port p] [--service s] [--product p] [--version-below v] [--status any] [--json]',
    summary: 'hosts and services your scans have seen open, with first and last seen',
    more: 'e.g. where is SSH older than 8.0: scangate inventory --service ssh --version-below 8.0\n--status any also lists services since seen closed; admins see the whole pool.',
  },
  schedules: {
    synopsis: 'schedules [list|create|run|pause|resume|delete] …',
    summary: 'scans that run themselves (admin)',
    more: `scangate schedules create nightly 10.20.0.0/24 --cron "0 3 * * *" --tz Europe/Berlin --args "-sT -sV"
scangate schedules create hourly 10.20.0.5 --every 3600
scangate schedules run|pause|resume|delete <name>
Runs are normal scans (scangate list shows them); a run the policy refuses pauses the schedule with the reason.`,
  },
  alerts: {
    synopsis: 'alerts [list|create|test|deliveries|pause|resume|delete] …',
    summary: 'webhook alerts on scan results, changes, breakers and runners (admin)',
    more: `scangate alerts create lab-watch https://hooks.example.org/scangate --events port_opened,new_host --format slack
  (prints the signing secret once)
scangate alerts test|deliveries|pause|resume|delete <alert-id>
Events: scan.finished, scan.failed, new_host, port_opened, port_closed, version_changed, cert_expiring,
breaker.opened, breaker.closed, runner.offline. Filters and thresholds: PATCH /v1/alerts/<id> (README, Alerts).`,
  },
  cancel: { synopsis: 'cancel <scan-id>', summary: 'stop a queued or running scan' },
  runners: { synopsis: 'runners [--json]', summary: 'runners and their state (admin)' },
  breakers: { synopsis: 'breakers [--json]', summary: 'circuit breakers (admin)' },
  tokens: {
    synopsis: 'tokens create --role scan|admin|runner [--name n] [--network cidr …] [--enroll]',
    summary: 'mint a token, shown once (admin); a runner serves only the networks granted here',
    more: 'e.g. scangate tokens create --role runner --name lab-a --network 10.20.0.0/16; with --enroll, a runner gets a one-time code and the install command to run on the lab host instead of its token',
  },
  help: { synopsis: 'help [command]', summary: 'this help, or one command in full' },
};

export const CONNECTION_HELP = `connection: --url <edge URL> and --token <bearer token>, else SCANGATE_URL and SCANGATE_TOKEN, else
  .scangate/local.json as \`npm start\` writes it, looked for in $SCANGATE_HOME, then the current directory,
  then the scangate checkout. Admin commands use its adminToken, the others its scanToken.`;

/** The overview: every command in a line. */
export function usage(): string {
  const column = 40;
  const lines = Object.values(COMMANDS).map((c) =>
    c.synopsis.length > column
      ? `  ${c.synopsis}\n  ${' '.repeat(column + 2)}${c.summary}`
      : `  ${c.synopsis.padEnd(column)}  ${c.summary}`,
  );
  return `usage: scangate <command> [options]

${lines.join('\n')}

${CONNECTION_HELP}
templates: ${TEMPLATE_NAMES.join(', ')} (scangate help scan)`;
}

/** One command in full, or undefined for a command that does not exist. */
export function commandHelp(command: string): string | undefined {
  const help = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (!help) return undefined;
  return [
    `usage: scangate ${help.synopsis}`,
    '',
    help.summary,
    ...(help.more ? ['', help.more] : []),
    '',
    CONNECTION_HELP,
  ].join('\n');
}
