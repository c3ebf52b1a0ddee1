#!/usr/bin/env node
/**
 * scangate: the command line for people. Talks to the edge's HTTP API only (the same routes scripts use).
 * URL and token come from --url/--token, SCANGATE_URL/SCANGATE_TOKEN, or .scangate/local.json (`npm start`).
 * Run it through scangate.mjs (the bin), which checks the Node version first. Errors from the edge are printed
 * with a fix worded for this CLI (cli/wording.ts); help texts live in cli/help.ts.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { isTerminal } from '../shared/scan/index.ts';
import { commandHelp, usage } from './cli/help.ts';
import {
  formatError,
  formatScan,
  formatWarnings,
  progressBar,
  safeText,
  scanRows,
  table,
  type ScanView,
} from './cli/render.ts';
import { type DiffAnswer, formatDiff, formatInventory } from './cli/render-history.ts';
import { type AlertView, type DeliveryView, formatAlerts, formatDeliveries } from './cli/render-alerts.ts';
import { formatSchedules } from './cli/render-schedules.ts';
import { sseEvents, textChunks } from './cli/sse.ts';
import { forCli, looseNmapOptions, type EdgeError } from './cli/wording.ts';

const OPTIONS = {
  url: { type: 'string' },
  token: { type: 'string' },
  template: { type: 'string' },
  args: { type: 'string' },
  timeout: { type: 'string' },
  status: { type: 'string' },
  limit: { type: 'string' },
  role: { type: 'string' },
  name: { type: 'string' },
  network: { type: 'string', multiple: true },
  enroll: { type: 'boolean' },
  json: { type: 'boolean' },
  output: { type: 'boolean' },
  cidr: { type: 'string' },
  port: { type: 'string' },
  service: { type: 'string' },
  product: { type: 'string' },
  'version-below': { type: 'string' },
  cursor: { type: 'string' },
  cron: { type: 'string' },
  every: { type: 'string' },
  tz: { type: 'string' },
  events: { type: 'string' },
  format: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** The CLI's own option spellings; any other dash-argument after `scan` is an nmap option typed loose. */
const OWN_OPTIONS: ReadonlySet<string> = new Set(
  Object.entries(OPTIONS).flatMap(([name, o]) => [`--${name}`, ...('short' in o ? [`-${o.short}`] : [])]),
);

class CliError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.exitCode = exitCode;
  }
}

/** An error answer from the edge; worded for the CLI where it is printed, since only there is the command known. */
class EdgeAnswer extends Error {
  readonly error: EdgeError;
  constructor(error: EdgeError) {
    super(error.message);
    this.error = error;
  }
}

type Values = ReturnType<typeof parse>['values'];

/** The position of the command word: the first bare argument that is not the value of one of our options. */
function commandIndex(argv: string[]): number {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('-')) return i;
    const name = arg.slice(2);
    if (
      arg.startsWith('--') &&
      !arg.includes('=') &&
      Object.hasOwn(OPTIONS, name) &&
      OPTIONS[name as keyof typeof OPTIONS].type === 'string'
    )
      i++;
  }
  return -1;
}

function parse(argv: string[]) {
  // `scangate scan 127.0.0.5 -p 80`: nmap options belong in --args; say so with the command meant, rather than
  // parseArgs' advice to put them after `--` (which would make them targets).
  const at = commandIndex(argv);
  if (argv[at] === 'scan') {
    const loose = looseNmapOptions(argv.slice(at + 1), OWN_OPTIONS);
    if (loose) throw new CliError(`nmap options go in one quoted --args value: ${loose.suggestion}`, 2);
  }
  // `--args "-sV -p 22"` is the common case: its value starts with a dash, which parseArgs would refuse.
  const args = argv.flatMap((arg, i) =>
    arg === '--args' && i + 1 < argv.length ? [] : argv[i - 1] === '--args' ? [`--args=${arg}`] : [arg],
  );
  try {
    return parseArgs({ args, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    const help = at >= 0 ? commandHelp(argv[at]!) : undefined;
    throw new CliError(
      `${(e as Error).message.replace(/\. To specify a positional argument.*$/s, '.')}\n${help ? help.split('\n')[0] : 'run `scangate help` for the commands and their options'}`,
      2,
    );
  }
}

interface Local {
  url?: string;
  scanToken?: string;
  adminToken?: string;
}

function local(): Local {
  const dirs = [process.env.SCANGATE_HOME, process.cwd(), join(import.meta.dirname, '..')].filter((d): d is string =>
    Boolean(d),
  );
  for (const dir of dirs) {
    try {
      return JSON.parse(readFileSync(join(dir, '.scangate', 'local.json'), 'utf8')) as Local;
    } catch {
      // next
    }
  }
  return {};
}

/** The edge URL and the token for a command that needs `role`. Flags win over the environment over local.json. */
function connection(values: Values, role: 'scan' | 'admin'): { url: string; token: string } {
  const saved = local();
  const url = values.url ?? process.env.SCANGATE_URL ?? saved.url;
  const token = values.token ?? process.env.SCANGATE_TOKEN ?? (role === 'admin' ? saved.adminToken : saved.scanToken);
  if (!url)
    throw new CliError(
      'no edge URL: pass --url, set SCANGATE_URL, or run `npm start` (which writes .scangate/local.json)',
      2,
    );
  if (!token)
    throw new CliError(
      `no ${role} token: pass --token or set SCANGATE_TOKEN (or run \`npm start\`, which saves one in .scangate/local.json)`,
      2,
    );
  return { url: url.replace(/\/+$/, ''), token };
}

async function request<T>(
  conn: { url: string; token: string },
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  let res: Response;
  try {
    res = await fetch(`${conn.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${conn.token}`,
        ...(body !== undefined && { 'content-type': 'application/json' }),
      },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
  } catch (e) {
    throw new CliError(
      `cannot reach ${conn.url}: ${(e as Error & { cause?: Error }).cause?.message ?? (e as Error).message}\n  what to do: check the URL, or start the local stack with \`npm start\``,
    );
  }
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : {};
  } catch {
    throw new CliError(
      `the edge at ${conn.url} answered HTTP ${res.status} with something other than JSON (is that a scangate edge?): ${safeText(text.slice(0, 200))}`,
    );
  }
  const error = (parsed as { error?: EdgeError }).error;
  if (error) throw new EdgeAnswer(error);
  if (!res.ok) throw new CliError(`the edge at ${conn.url} answered HTTP ${res.status}`);
  return parsed as T;
}

const print = (text: string) => process.stdout.write(`${text}\n`);
const positiveInt = (value: string | undefined, name: string) => {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < 1)
    throw new CliError(`--${name} must be a positive whole number, not ${value}`, 2);
  return Number(value);
};

/** Follows a scan's events until it ends: a live bar on a terminal, a line per 10 % elsewhere; raw output on request. */
async function follow(conn: { url: string; token: string }, id: string, showOutput: boolean): Promise<void> {
  const tty = process.stderr.isTTY;
  let lastShown = -10;
  let drawn = false;
  const res = await fetch(`${conn.url}/v1/scans/${id}/events`, {
    headers: { authorization: `Bearer ${conn.token}`, accept: 'text/event-stream' },
  });
  if (!res.ok || !res.body)
    throw new CliError(
      `cannot follow scan ${id} (the edge answered HTTP ${res.status}): see it with \`scangate get ${id}\``,
    );
  for await (const event of sseEvents(textChunks(res.body))) {
    if (event.event === 'progress') {
      const p = JSON.parse(event.data) as { percent: number; phase?: string; etaSec?: number };
      const detail = [p.phase, p.etaSec !== undefined && `~${p.etaSec} s left`].filter(Boolean).join(', ');
      if (tty) {
        process.stderr.write(`\r${progressBar(p.percent, detail)}\u001b[K`);
        drawn = true;
      } else if (p.percent - lastShown >= 10) {
        lastShown = p.percent;
        process.stderr.write(`${progressBar(p.percent, detail)}\n`);
      }
    } else if (event.event === 'dispatched' && !tty) {
      process.stderr.write(`scan ${id} dispatched to a runner\n`);
    } else if (event.event === 'output' && showOutput) {
      if (drawn) process.stderr.write('\r\u001b[K');
      process.stdout.write(safeText((JSON.parse(event.data) as { data: string }).data, true));
    } else if (event.event === 'finished') {
      break;
    }
  }
  if (drawn) process.stderr.write(`\r${progressBar(100)}\u001b[K\n`);
}

async function scanCommand(values: Values, targets: string[]): Promise<number> {
  if (!targets.length) throw new CliError('scan needs at least one target, e.g. `scangate scan 127.0.0.1`', 2);
  const conn = connection(values, 'scan');
  const timeoutSec = positiveInt(values.timeout, 'timeout');
  const body = {
    target: targets.length === 1 ? targets[0] : targets,
    ...(values.template && { template: values.template }),
    ...(values.args !== undefined && { args: values.args }),
    ...(timeoutSec && { timeoutSec }),
  };
  const { scan } = await request<{ scan: ScanView }>(conn, 'POST', '/v1/scans', body);
  if (!values.json) {
    process.stderr.write(`scan ${scan.id} ${scan.status}: nmap ${scan.argv.map((a) => safeText(a)).join(' ')}\n`);
    for (const line of formatWarnings(scan.warnings)) process.stderr.write(`${line.trimStart()}\n`);
  }
  // Ctrl-C stops the scan on the runner too, not only this terminal.
  const onInterrupt = () => {
    process.stderr.write(`\ncancelling scan ${scan.id} …\n`);
    void request(conn, 'POST', `/v1/scans/${scan.id}/cancel`).finally(() => process.exit(130));
  };
  process.once('SIGINT', onInterrupt);
  if (!isTerminal(scan.status)) await follow(conn, scan.id, values.output === true && !values.json);
  process.off('SIGINT', onInterrupt);
  const done = (await request<{ scan: ScanView & { output: string } }>(conn, 'GET', `/v1/scans/${scan.id}`)).scan;
  print(values.json ? JSON.stringify(done, null, 2) : formatScan(withCliError(done, 'scan'), { warnings: false }));
  return done.status === 'succeeded' ? 0 : 1;
}

/** A scan whose stored error (if any) carries the CLI's wording of the fix. */
function withCliError<T extends ScanView>(scan: T, command: string): T {
  return scan.error ? { ...scan, error: { ...scan.error, ...forCli(scan.error, command) } } : scan;
}

/** `help`, `help <command>`, `--help`, `<command> --help`; undefined when the arguments ask for something else. */
function help(values: Values, command: string | undefined, rest: string[]): number | undefined {
  const topic = command === 'help' ? rest[0] : values.help ? command : undefined;
  if (command !== 'help' && !values.help) return undefined;
  if (!topic) {
    print(usage());
    return 0;
  }
  const text = commandHelp(topic);
  if (!text) throw new CliError(`no command ${safeText(topic)}: run \`scangate help\` for the list`, 2);
  print(text);
  return 0;
}

/** `scangate schedules [list|create|run|pause|resume|delete]` (admin). */
async function schedulesCommand(values: Values, rest: string[]): Promise<number> {
  const conn = connection(values, 'admin');
  const [action = 'list', name, target] = rest;
  const one = (n: string | undefined) => {
    if (!n) throw new CliError(`usage: scangate schedules ${action} <name>`, 2);
    return `/v1/schedules/${encodeURIComponent(n)}`;
  };
  type One = { schedule: Parameters<typeof formatSchedules>[0][number] };
  const show = (s: One['schedule']) => (values.json ? print(JSON.stringify(s, null, 2)) : print(formatSchedules([s])));
  switch (action) {
    case 'list': {
      const { schedules } = await request<{ schedules: One['schedule'][] }>(conn, 'GET', '/v1/schedules');
      print(values.json ? JSON.stringify(schedules, null, 2) : formatSchedules(schedules));
      return 0;
    }
    case 'create': {
      if (!name || !target || rest.length !== 3 || (!values.cron && !values.every))
        throw new CliError(
          'usage: scangate schedules create <name> <target> (--cron "m h dom mon dow" [--tz zone] | --every seconds) [--template t] [--args "…"] [--timeout sec]',
          2,
        );
      const { schedule } = await request<One>(conn, 'POST', '/v1/schedules', {
        name,
        scan: {
          target,
          ...(values.template && { template: values.template }),
          ...(values.args && { args: values.args }),
          ...(values.timeout && { timeoutSec: positiveInt(values.timeout, 'timeout') }),
        },
        ...(values.cron && { cron: values.cron }),
        ...(values.every && { intervalSec: positiveInt(values.every, 'every') }),
        ...(values.tz && { timeZone: values.tz }),
      });
      show(schedule);
      return 0;
    }
    case 'run': {
      const { scan } = await request<{ scan: ScanView }>(conn, 'POST', `${one(name)}/run`);
      print(`schedule ${name}: started scan ${scan.id}; follow it with \`scangate get ${scan.id}\``);
      return 0;
    }
    case 'pause':
    case 'resume': {
      show((await request<One>(conn, 'PATCH', one(name), { enabled: action === 'resume' })).schedule);
      return 0;
    }
    case 'delete': {
      await request<One>(conn, 'DELETE', one(name));
      print(`schedule ${name} deleted`);
      return 0;
    }
    default:
      throw new CliError(`unknown schedules action ${action}: list, create, run, pause, resume or delete`, 2);
  }
}

/** `scangate alerts [list|create|test|deliveries|pause|resume|delete]` (admin). */
async function alertsCommand(values: Values, rest: string[]): Promise<number> {
  const conn = connection(values, 'admin');
  const [action = 'list', first, second] = rest;
  const one = (id: string | undefined) => {
    if (!id) throw new CliError(`usage: scangate alerts ${action} <alert-id>`, 2);
    return `/v1/alerts/${encodeURIComponent(id)}`;
  };
  const out = (text: string, value: unknown) => print(values.json ? JSON.stringify(value, null, 2) : text);
  switch (action) {
    case 'list': {
      const { alerts } = await request<{ alerts: AlertView[] }>(conn, 'GET', '/v1/alerts');
      out(formatAlerts(alerts), alerts);
      return 0;
    }
    case 'create': {
      if (!first || !second || rest.length !== 3 || !values.events)
        throw new CliError(
          'usage: scangate alerts create <name> <https-url> --events port_opened,new_host,… [--format json|slack|teams]',
          2,
        );
      const created = await request<{ alert: AlertView; secret: string }>(conn, 'POST', '/v1/alerts', {
        name: first,
        url: second,
        events: values.events.split(',').map((e) => e.trim()),
        ...(values.format && { format: values.format }),
      });
      out(
        `${formatAlerts([created.alert])}\n\nsigning secret (shown once; receivers verify X-Scangate-Signature with it):\n${created.secret}`,
        created,
      );
      return 0;
    }
    case 'test': {
      const { delivery } = await request<{ delivery: DeliveryView }>(conn, 'POST', `${one(first)}/test`);
      out(formatDeliveries([delivery]), delivery);
      return delivery.status === 'delivered' ? 0 : 1;
    }
    case 'deliveries': {
      const { deliveries } = await request<{ deliveries: DeliveryView[] }>(conn, 'GET', `${one(first)}/deliveries`);
      out(formatDeliveries(deliveries), deliveries);
      return 0;
    }
    case 'pause':
    case 'resume': {
      const { alert } = await request<{ alert: AlertView }>(conn, 'PATCH', one(first), {
        enabled: action === 'resume',
      });
      out(formatAlerts([alert]), alert);
      return 0;
    }
    case 'delete': {
      await request(conn, 'DELETE', one(first));
      print(`alert ${first} deleted`);
      return 0;
    }
    default:
      throw new CliError(`unknown alerts action ${action}: list, create, test, deliveries, pause, resume or delete`, 2);
  }
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv);
  const [command, ...rest] = positionals;
  const helped = help(values, command, rest);
  if (helped !== undefined) return helped;
  if (!command) {
    process.stderr.write(`${usage()}\n`);
    return 2;
  }
  current = command;
  const asJson = (value: unknown) => print(JSON.stringify(value, null, 2));
  switch (command) {
    case 'scan':
      return scanCommand(values, rest);
    case 'get': {
      if (rest.length !== 1) throw new CliError('usage: scangate get <scan-id>', 2);
      const { scan } = await request<{ scan: ScanView & { output: string } }>(
        connection(values, 'scan'),
        'GET',
        `/v1/scans/${encodeURIComponent(rest[0]!)}`,
      );
      if (values.json) asJson(scan);
      else
        print(
          `${formatScan(withCliError(scan, 'get'))}${values.output ? `\n\n--- nmap output ---\n${safeText(scan.output, true)}` : ''}`,
        );
      return 0;
    }
    case 'list': {
      const query = new URLSearchParams({
        limit: String(positiveInt(values.limit, 'limit') ?? 20),
        ...(values.status && { status: values.status }),
      });
      const { scans } = await request<{ scans: ScanView[] }>(connection(values, 'scan'), 'GET', `/v1/scans?${query}`);
      if (values.json) asJson(scans);
      else print(scanRows(scans));
      return 0;
    }
    case 'diff': {
      if (rest.length < 1 || rest.length > 2)
        throw new CliError('usage: scangate diff <scan-id> [<earlier-scan-id>]', 2);
      const against = rest[1] ? `?against=${encodeURIComponent(rest[1])}` : '';
      const answer = await request<DiffAnswer>(
        connection(values, 'scan'),
        'GET',
        `/v1/scans/${encodeURIComponent(rest[0]!)}/diff${against}`,
      );
      if (values.json) asJson(answer);
      else print(formatDiff(answer));
      return 0;
    }
    case 'inventory': {
      const query = new URLSearchParams({
        limit: String(positiveInt(values.limit, 'limit') ?? 100),
        ...(values.cidr && { cidr: values.cidr }),
        ...(values.port && { port: values.port }),
        ...(values.service && { service: values.service }),
        ...(values.product && { product: values.product }),
        ...(values['version-below'] && { versionBelow: values['version-below'] }),
        ...(values.status && { state: values.status }),
        ...(values.cursor && { cursor: values.cursor }),
      });
      const found = await request<{ services: Parameters<typeof formatInventory>[0]; nextCursor: string | null }>(
        connection(values, 'scan'),
        'GET',
        `/v1/inventory?${query}`,
      );
      if (values.json) asJson(found);
      else print(formatInventory(found.services, found.nextCursor));
      return 0;
    }
    case 'schedules':
      return schedulesCommand(values, rest);
    case 'alerts':
      return alertsCommand(values, rest);
    case 'cancel': {
      if (rest.length !== 1) throw new CliError('usage: scangate cancel <scan-id>', 2);
      const { scan } = await request<{ scan: ScanView }>(
        connection(values, 'scan'),
        'POST',
        `/v1/scans/${encodeURIComponent(rest[0]!)}/cancel`,
      );
      print(`scan ${scan.id}: cancel requested (${scan.status})`);
      return 0;
    }
    case 'runners': {
      type R = {
        id: string;
        name: string;
        online: boolean;
        revoked: boolean;
        lastSeen: string | null;
        nmapVersion: string | null;
        privileged: boolean | null;
        networks: string[];
        running: number;
        breaker: string;
      };
      const { runners } = await request<{ runners: R[] }>(connection(values, 'admin'), 'GET', '/v1/runners');
      if (values.json) asJson(runners);
      else if (!runners.length)
        print('no runners: mint one with `scangate tokens create --role runner --network <cidr>`');
      else
        print(
          table(
            ['NAME', 'ID', 'STATE', 'LAST SEEN', 'NMAP', 'PRIV', 'NETWORKS', 'RUNNING', 'BREAKER'],
            runners.map((r) => [
              r.name,
              r.id,
              r.revoked ? 'revoked' : r.online ? 'online' : 'offline',
              r.lastSeen ?? '',
              r.nmapVersion ?? '',
              r.privileged === null ? '' : r.privileged ? 'yes' : 'no',
              r.networks.join(','),
              String(r.running),
              r.breaker,
            ]),
          ),
        );
      return 0;
    }
    case 'breakers': {
      type B = {
        runner: string;
        state: string;
        consecutiveFailures: number;
        failureThreshold: number;
        recoveryTimeoutSec: number;
        nextHalfOpenAt: string | null;
        errors: Array<{ message: string }>;
      };
      const { breakers } = await request<{ breakers: B[] }>(connection(values, 'admin'), 'GET', '/v1/breakers');
      if (values.json) asJson(breakers);
      else if (!breakers.length) print('no breakers (no runners yet)');
      else
        print(
          table(
            ['RUNNER', 'STATE', 'FAILURES', 'RECOVERY', 'HALF-OPEN AT', 'LAST ERROR'],
            breakers.map((b) => [
              b.runner,
              b.state,
              `${b.consecutiveFailures}/${b.failureThreshold}`,
              `${b.recoveryTimeoutSec}s`,
              b.nextHalfOpenAt ?? '',
              b.errors.at(-1)?.message ?? '',
            ]),
          ),
        );
      return 0;
    }
    case 'tokens': {
      if (rest[0] !== 'create' || rest.length !== 1)
        throw new CliError(
          'usage: scangate tokens create --role scan|admin|runner [--name n] [--network cidr …] [--enroll]',
          2,
        );
      const role = values.role;
      if (role !== 'scan' && role !== 'admin' && role !== 'runner')
        throw new CliError('--role must be scan, admin or runner', 2);
      const name = values.name ?? `${role}-${new Date().toISOString().slice(0, 19).replace(/[-:T]/g, '')}`;
      const conn = connection(values, 'admin');
      if (role === 'runner' && !values.network?.length)
        throw new CliError('a runner token needs the networks it may serve: --network 10.20.0.0/16 [--network …]', 2);
      if (values.enroll && role !== 'runner') throw new CliError('--enroll is for --role runner only', 2);
      if (role === 'runner' && values.enroll) {
        // A one-time code and the install command instead of the token: the token then goes to the host only.
        const enrolled = await request<{ id: string; name: string; enrollment: Record<string, string> }>(
          conn,
          'POST',
          '/v1/runners',
          { name, networks: values.network, enroll: true },
        );
        if (values.json) asJson({ ...enrolled, role });
        else
          print(
            `runner ${enrolled.name} (${enrolled.id}); on the lab host, as root, before ${enrolled.enrollment.expiresAt} (works once):\n${enrolled.enrollment.installCommand}`,
          );
        return 0;
      }
      const minted =
        role === 'runner'
          ? await request<{ id: string; name: string; token: string }>(conn, 'POST', '/v1/runners', {
              name,
              networks: values.network,
            })
          : await request<{ id: string; name: string; token: string }>(conn, 'POST', '/v1/tokens', { name, role });
      if (values.json) asJson({ ...minted, role });
      else print(`${role} token ${minted.name} (${minted.id}); shown once, keep it safe:\n${minted.token}`);
      return 0;
    }
    default:
      throw new CliError(`unknown command ${safeText(command)}: run \`scangate help\` for the list`, 2);
  }
}

/** The command being run, for wording the edge's errors. */
let current = '';

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    const message =
      e instanceof EdgeAnswer
        ? formatError(forCli(e.error, current))
        : e instanceof CliError
          ? e.message
          : ((e as Error)?.stack ?? String(e));
    process.stderr.write(`scangate: ${message}\n`);
    process.exit(e instanceof CliError ? e.exitCode : 1);
  },
);
