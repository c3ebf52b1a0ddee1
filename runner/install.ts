/**
 * `scangate-runner install` and `uninstall`: the README's manual steps as one command, safe to run twice.
 *
 *   sudo scangate-runner install --server wss://… --enroll <code> --network 10.20.0.0/16 [--raw-scans] […]
 *
 * Creates the system user, the token file (0640 root:<user>: the service reads it, cannot change it, and no other
 * user can read it) from the enrollment code's exchange (POST /v1/runners/enroll; the token is never printed),
 * the env file (0640), this program under /opt/scangate, the hardened unit (runner/unit.ts); runs doctor; enables
 * and starts the service where systemd runs. An existing token is kept, so a second install spends no code.
 * `--root <dir>` stages everything under <dir> (paths inside the written files included) and never calls
 * systemctl: that is how the tests install without touching /etc.
 */
import { execFile } from 'node:child_process';
import { chmod, chown, copyFile, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isSea } from 'node:sea';
import { parseArgs, promisify } from 'node:util';
import { canonicalNetwork } from '../shared/policy/targets.ts';
import { EXIT, isLoopbackHost, parseCommandLine, RUNNER_OPTIONS } from './config.ts';
import { doctor, formatChecks } from './doctor.ts';
import { edgeRefuses, exchangeCode, fail } from './enroll.ts';
import { renderUnit } from './unit.ts';

const run = promisify(execFile);

const OPTIONS = {
  ...RUNNER_OPTIONS,
  enroll: { type: 'string' },
  'raw-scans': { type: 'boolean' },
  'skip-doctor': { type: 'boolean' },
  user: { type: 'string' },
  root: { type: 'string' },
  binary: { type: 'string' },
} as const;

const INSTALL_HELP = `Usage: sudo scangate-runner install --server <wss://…> --enroll <code> [options]
       sudo scangate-runner uninstall [--user scangate] [--root <dir>]

  --server <url>          the edge (wss://; ws:// to loopback only)
  --enroll <code>         the one-time code from POST /v1/runners {enroll: true} or the dashboard
  --token-file <file>     or install an existing runner token instead
  --network <cidr>        a network this runner may scan; repeat (default: what the admin granted)
  --raw-scans             grant the unit CAP_NET_RAW and CAP_NET_ADMIN (-sS, -sU, -O, …)
  --max-concurrency <n>, --nmap <path>, --grace <s>, --allow-intrusive, --allow-evasion: as for run
  --user <name>           the service user (default scangate)
  --root <dir>            stage everything under <dir> and call no systemctl (tests)
  --binary <file>         the runner program to install (default: this one)
  --skip-doctor           do not run doctor before starting the service

Safe to run twice: a token the edge accepts is kept and the code is not spent.`;

/** Where an install puts things, under `root` ('/' on a real host). */
export function installPaths(root: string, sea: boolean) {
  const etc = join(root, 'etc/scangate');
  const opt = join(root, 'opt/scangate');
  return {
    etc,
    opt,
    token: join(etc, 'runner.token'),
    env: join(etc, 'runner.env'),
    unit: join(root, 'etc/systemd/system/scangate-runner.service'),
    program: join(opt, sea ? 'scangate-runner' : 'scangate-runner.mjs'),
    passwd: join(root, 'etc/passwd'),
    group: join(root, 'etc/group'),
  };
}

/** The uid of `user` in a passwd file, or undefined (also when the file is missing). */
async function idOf(file: string, name: string): Promise<number | undefined> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const line = text.split('\n').find((l) => l.split(':')[0] === name);
  return line === undefined ? undefined : Number(line.split(':')[2]);
}

/** Writes a file whole (temp file, then rename) with its mode and owner set before it appears. */
async function writePrivate(path: string, text: string, mode: number, uid: number, gid: number): Promise<void> {
  const temp = `${path}.tmp-${process.pid}`;
  await writeFile(temp, text, { mode: 0o600 });
  await chown(temp, uid, gid);
  await chmod(temp, mode);
  await rename(temp, path);
}

async function sameContent(path: string, text: string | Buffer): Promise<boolean> {
  const old = await readFile(path).catch(() => undefined);
  return old?.equals(Buffer.from(text)) ?? false;
}

export async function install(argv: readonly string[], say: (line: string) => void): Promise<number> {
  const { values } = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: false, strict: true });
  const root = values.root ?? '/';
  const user = values.user ?? 'scangate';
  if (root === '/' && process.getuid?.() !== 0) fail('install needs root: run it with sudo');
  if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(user)) fail(`--user ${user} is not a valid user name`);
  const server = values.server ?? fail('no --server given (the edge URL, wss://…)');
  let serverUrl: URL;
  try {
    serverUrl = new URL(server);
  } catch {
    fail(`--server "${server}" is not a URL`);
  }
  if (serverUrl.protocol !== 'wss:' && !(serverUrl.protocol === 'ws:' && isLoopbackHost(serverUrl.hostname)))
    fail('--server must be wss:// (ws:// only to loopback)');
  const networks: string[] = [];
  for (const n of values.network ?? []) {
    const c = canonicalNetwork(n);
    if (typeof c !== 'string') fail(`--network ${n}: ${c.problem} (write it like 10.20.0.0/16)`);
    networks.push(c);
  }
  const sea = isSea();
  const paths = installPaths(root, sea);

  // The program to install: this single executable, or this bundle (not the TypeScript sources).
  const source = values.binary ?? (sea ? process.execPath : process.argv[1]);
  if (!source || (!sea && !source.endsWith('.mjs')))
    fail(
      'install copies the built runner: run it from dist/scangate-runner.mjs (npm run build:runner) or the single executable',
    );

  // 1. The system user.
  if ((await idOf(paths.passwd, user)) === undefined) {
    const prefix = root === '/' ? [] : ['--prefix', root];
    await run('useradd', [
      ...prefix,
      '--system',
      '--user-group',
      '--no-create-home',
      '--home-dir',
      '/nonexistent',
      '--shell',
      '/usr/sbin/nologin',
      user,
    ]);
    say(`created system user ${user} (uid ${await idOf(paths.passwd, user)})`);
  } else say(`system user ${user} exists (uid ${await idOf(paths.passwd, user)})`);
  const gid = (await idOf(paths.group, user)) ?? fail(`group ${user} is missing from ${paths.group}`, EXIT.fatal);

  // 2. Directories and the program.
  await mkdir(paths.etc, { recursive: true });
  await chown(paths.etc, 0, gid);
  await chmod(paths.etc, 0o750);
  await mkdir(paths.opt, { recursive: true, mode: 0o755 });
  await mkdir(join(paths.unit, '..'), { recursive: true, mode: 0o755 });
  const program = await readFile(source);
  if (await sameContent(paths.program, program)) say(`${paths.program} is up to date`);
  else {
    await copyFile(source, `${paths.program}.tmp`);
    await chmod(`${paths.program}.tmp`, 0o755);
    await rename(`${paths.program}.tmp`, paths.program);
    say(`installed ${paths.program}`);
  }

  // 3. The token: kept if there is one, else from the enrollment code (or a token file). Never printed.
  const existing = (await readFile(paths.token, 'utf8').catch(() => '')).trim();
  let granted: string[] = [];
  // A token the edge refuses (revoked, or another edge's) is replaced when a code is given; any other is kept.
  const refused =
    /^sgr_[0-9a-f][A-Za-z0-9_-]{43}$/.test(existing) && values.enroll !== undefined
      ? await edgeRefuses(server, existing)
      : false;
  if (/^sgr_[0-9a-f][A-Za-z0-9_-]{43}$/.test(existing) && !refused) {
    say(`kept the runner token in ${paths.token} (already enrolled; the code was not used)`);
  } else if (values.enroll) {
    if (refused) say(`the edge refuses the runner token in ${paths.token} (revoked?): enrolling with the code`);
    const enrolled = await exchangeCode(server, values.enroll);
    granted = enrolled.networks;
    await writePrivate(paths.token, `${enrolled.token}\n`, 0o640, 0, gid);
    say(`enrolled as runner "${enrolled.name}": token written to ${paths.token} (0640 root:${user})`);
  } else if (values['token-file']) {
    await writePrivate(paths.token, `${(await readFile(values['token-file'], 'utf8')).trim()}\n`, 0o640, 0, gid);
    say(`copied the runner token to ${paths.token} (0640 root:${user})`);
  } else fail('no --enroll <code> given (an admin gets one with POST /v1/runners {enroll: true} or the dashboard)');

  // 4. The env file: given networks, else what the admin granted, else what the last install wrote.
  const previous = parseCommandLine(['doctor', '--env-file', paths.env], {}, (p) => readFileSync(p, 'utf8'), paths.env);
  const declared =
    networks.length > 0
      ? networks
      : granted.length > 0
        ? granted
        : previous.ok && previous.command.kind === 'doctor'
          ? previous.command.settings.networks.declared
          : [];
  if (declared.length === 0) fail('no --network given, and the edge named no grant');
  const env = [
    '# Written by scangate-runner install; see scangate-runner --help.',
    `SCANGATE_SERVER=${server}`,
    `SCANGATE_TOKEN_FILE=${paths.token}`,
    `SCANGATE_NETWORKS=${declared.join(',')}`,
    ...(values['max-concurrency'] ? [`SCANGATE_MAX_CONCURRENCY=${values['max-concurrency']}`] : []),
    ...(values.nmap ? [`SCANGATE_NMAP=${values.nmap}`] : []),
    ...(values.grace ? [`SCANGATE_GRACE=${values.grace}`] : []),
    ...(values['allow-intrusive'] ? ['SCANGATE_ALLOW_INTRUSIVE=1'] : []),
    ...(values['allow-evasion'] ? ['SCANGATE_ALLOW_EVASION=1'] : []),
    '',
  ].join('\n');
  if (await sameContent(paths.env, env)) say(`${paths.env} is up to date`);
  else {
    await writePrivate(paths.env, env, 0o640, 0, gid);
    say(`wrote ${paths.env} (0640 root:${user}): networks ${declared.join(', ')}`);
  }

  // 5. The unit, hardened as shipped.
  const execStart = sea ? `${paths.program} run` : `${process.execPath} --max-semi-space-size=1 ${paths.program} run`;
  const unit = renderUnit({ user, environmentFile: paths.env, execStart, rawScans: values['raw-scans'] ?? false });
  if (await sameContent(paths.unit, unit)) say(`${paths.unit} is up to date`);
  else {
    await writeFile(paths.unit, unit, { mode: 0o644 });
    await chmod(paths.unit, 0o644);
    say(`wrote ${paths.unit}${values['raw-scans'] ? ' (raw scans: CAP_NET_RAW CAP_NET_ADMIN granted)' : ''}`);
  }

  // 6. doctor, with the service's settings.
  if (!values['skip-doctor']) {
    const parsed = parseCommandLine(['doctor', '--env-file', paths.env], {}, (p) => readFileSync(p, 'utf8'), paths.env);
    if (parsed.ok && parsed.command.kind === 'doctor') {
      const checks = await doctor(parsed.command.settings);
      say(`doctor:\n${formatChecks(checks).trimEnd()}`);
      if (checks.some((c) => c.status === 'FAIL'))
        fail(
          'doctor found a problem (FAIL above): fix it and run install again; the service was not started',
          EXIT.fatal,
        );
    }
  }

  // 7. The service.
  if (root !== '/') say(`staged under ${root}: the service was not enabled (systemctl acts on this host, not ${root})`);
  else if (!existsSync('/run/systemd/system'))
    say(
      `systemd is not running on this host (no /run/systemd/system): not enabled; start it by hand as ${user}: ${execStart}`,
    );
  else {
    await run('systemctl', ['daemon-reload']);
    await run('systemctl', ['enable', 'scangate-runner.service']);
    await run('systemctl', ['restart', 'scangate-runner.service']);
    say('enabled and (re)started scangate-runner.service: journalctl -u scangate-runner -f');
  }
  return EXIT.ok;
}

export async function uninstall(argv: readonly string[], say: (line: string) => void): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: { root: OPTIONS.root, user: OPTIONS.user },
    allowPositionals: false,
    strict: true,
  });
  const root = values.root ?? '/';
  const user = values.user ?? 'scangate';
  if (root === '/' && process.getuid?.() !== 0) fail('uninstall needs root: run it with sudo');
  const paths = installPaths(root, false);
  if (root === '/' && existsSync('/run/systemd/system')) {
    await run('systemctl', ['disable', '--now', 'scangate-runner.service']).catch(() => undefined);
    say('stopped and disabled scangate-runner.service');
  } else say('systemd is not managing this install: nothing to stop');
  for (const path of [paths.unit, paths.etc, paths.opt]) {
    if (existsSync(path)) {
      await rm(path, { recursive: true, force: true });
      say(`removed ${path}`);
    } else say(`${path}: already gone`);
  }
  if (root === '/' && existsSync('/run/systemd/system')) await run('systemctl', ['daemon-reload']);
  if ((await idOf(paths.passwd, user)) !== undefined) {
    await run('userdel', [...(root === '/' ? [] : ['--prefix', root]), user]);
    say(`removed system user ${user}`);
  } else say(`system user ${user}: already gone`);
  return EXIT.ok;
}

/** Runs install or uninstall; problems are one line on stderr and an exit code. */
export async function installCommand(kind: 'install' | 'uninstall', argv: readonly string[]): Promise<number> {
  const say = (line: string) => process.stdout.write(`${line}\n`);
  if (argv.includes('--help') || argv.includes('-h')) {
    say(INSTALL_HELP);
    return EXIT.ok;
  }
  try {
    return await (kind === 'install' ? install : uninstall)(argv, say);
  } catch (e) {
    process.stderr.write(`scangate-runner ${kind}: ${(e as Error).message.split('\n')[0]}\n`);
    const parseError = String((e as NodeJS.ErrnoException).code).startsWith('ERR_PARSE_ARGS');
    return (e as { exitCode?: number }).exitCode ?? (parseError ? EXIT.usage : EXIT.fatal);
  }
}
