import { execFile, execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it, type TestContext } from 'vitest';
import { useBannerServer } from './helpers/banner-server.ts';
import { validateScanRequest } from '../shared/policy/index.ts';
import type { JobFinished, JobRejected, RunnerMessage } from '../shared/protocol/index.ts';
import { EdgeDouble } from './helpers/edge-double.ts';

/**
 * scangate-runner as a real process (node runner/main.ts, and the esbuild bundle) against a local test
 * double of the edge; real nmap against 127.0.0.1 only.
 */
const ROOT = new URL('..', import.meta.url).pathname;
/** Shaped as the edge mints runner tokens (sgr_, a shard digit, 43 characters): doctor checks the shape. */
const TOKEN = 'sgr_0process_test_token_0123456789abcdefghijklmn';
const isRoot = process.getuid?.() === 0;
if (!isRoot)
  console.warn(
    `runner-process: the privileged (root) SYN-scan test is skipped: running as uid ${process.getuid?.()}, not root`,
  );

const dir = mkdtempSync(join(tmpdir(), 'scangate-runner-test-'));
chmodSync(dir, 0o755);
const tokenFile = join(dir, 'token');
writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o644 }); // the runner-as-nobody test reads it
/** As an admin installs it: readable by its owner only (doctor warns about a token file every user can read). */
const privateTokenFile = join(dir, 'private-token');
writeFileSync(privateTokenFile, `${TOKEN}\n`, { mode: 0o600 });

const isFinished =
  (jobId: string) =>
  (m: RunnerMessage): m is JobFinished =>
    m.type === 'job.finished' && m.jobId === jobId;
const isRejected =
  (jobId: string) =>
  (m: RunnerMessage): m is JobRejected =>
    m.type === 'job.rejected' && m.jobId === jobId;

function argvFor(args: string): string[] {
  const r = validateScanRequest({ target: '127.0.0.1', args });
  if (!r.ok) throw new Error(r.error.message);
  return r.argv;
}

interface Runner {
  child: ChildProcess;
  exit: Promise<number | null>;
  stdout: () => string;
}

type Cleanup = TestContext['onTestFinished'];

const DROP = ['--reuid=nobody', '--regid=nogroup', '--clear-groups'];

let nobodyRunner: { node: string; entry: string } | undefined;

/**
 * What `nobody` can run: the checkout and the Node binary may sit in directories only root can enter (root's home,
 * `mktemp -d`), so the runner bundle and, if needed, a copy of Node go into the 0755 test dir. Fails fast, saying
 * why, if nobody still cannot execute them. Built once for the file: the tests that run as nobody share it.
 */
function nobodyCanRun(): { node: string; entry: string } {
  nobodyRunner ??= buildForNobody();
  return nobodyRunner;
}

function buildForNobody(): { node: string; entry: string } {
  const entry = join(dir, 'nobody-runner.mjs');
  execFileSync(process.execPath, [join(ROOT, 'scripts/build-runner.ts'), entry], { cwd: ROOT, stdio: 'pipe' });
  chmodSync(entry, 0o644);
  const reachable = (path: string) => spawnSync('setpriv', [...DROP, 'test', '-x', path]).status === 0;
  let node = process.execPath;
  if (!reachable(node)) {
    node = join(dir, 'node');
    copyFileSync(process.execPath, node);
    chmodSync(node, 0o755);
  }
  if (!reachable(node) || spawnSync('setpriv', [...DROP, 'test', '-r', entry]).status !== 0) {
    throw new Error(
      `nobody cannot execute ${node} or read ${entry}: is ${dir} or a parent directory closed to other users?`,
    );
  }
  return { node, entry };
}

function startRunner(
  cleanup: Cleanup,
  edge: EdgeDouble,
  extra: string[] = [],
  options: { asNobody?: boolean; entry?: string; env?: Record<string, string> } = {},
): Runner {
  const nobody = options.asNobody && isRoot ? nobodyCanRun() : undefined;
  const args = [
    nobody?.entry ?? options.entry ?? join(ROOT, 'runner/main.ts'),
    'run',
    '--server',
    edge.url,
    '--token-file',
    tokenFile,
    '--network',
    '127.0.0.0/8',
    ...extra,
  ];
  const [cmd, argv] = nobody ? ['setpriv', [...DROP, nobody.node, ...args]] : [process.execPath, args];
  const child = spawn(cmd, argv, {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', SCANGATE_STATS_EVERY: '1s', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  cleanup(async () => {
    if (child.exitCode === null) {
      child.kill('SIGKILL');
      await exit;
    }
  });
  return { child, exit, stdout: () => out };
}

/** Resolves once the runner has written a line matching `pattern` (an event, not a timing window). */
async function waitForOutput(runner: Runner, pattern: RegExp): Promise<void> {
  while (!pattern.test(runner.stdout())) {
    await new Promise<void>((resolve) => runner.child.stdout!.once('data', () => resolve()));
  }
}

async function edgeDouble(cleanup: Cleanup, options: Parameters<typeof EdgeDouble.start>[0] = {}): Promise<EdgeDouble> {
  const edge = await EdgeDouble.start({ tokens: [TOKEN], ...options });
  cleanup(() => edge.close());
  return edge;
}

const banner = useBannerServer();

describe.concurrent('scangate-runner process', () => {
  it('exits 3 with a clear log line when its token is refused, and never logs the token', async ({
    onTestFinished,
  }) => {
    const edge = await edgeDouble(onTestFinished, { tokens: ['some-other-token-entirely'] });
    const runner = startRunner(onTestFinished, edge);
    expect(await runner.exit).toBe(3);
    expect(runner.stdout()).toMatch(/"event":"link.token_rejected".*"status":401/);
    expect(runner.stdout()).not.toContain(TOKEN);
    expect(edge.connections).toBe(0);
    expect(edge.authorizations).toHaveLength(1); // no hot retry loop
  });

  it('exits 3 at once when the edge revokes it mid-session', async ({ onTestFinished }) => {
    const edge = await edgeDouble(onTestFinished);
    const runner = startRunner(onTestFinished, edge);
    await edge.waitFor((m) => m.type === 'hello');
    edge.send({
      type: 'error',
      code: 'revoked',
      message: 'This runner was revoked by an admin',
      recoverySuggestion: 'Ask an admin for a new runner token.',
    });
    expect(await runner.exit).toBe(3);
    expect(runner.stdout()).toMatch(/"event":"runner.exit","code":3/);
    // "At once" is an event, not a stopwatch (a loaded machine is slower, not wrong): it never scheduled a reconnect
    // (link.closed with reconnectInMs is logged before every backoff) and never dialled again.
    expect(runner.stdout()).not.toMatch(/"reconnectInMs"/);
    expect(edge.connections).toBe(1);
  });

  it('exits 4 when the edge refuses its protocol version', async ({ onTestFinished }) => {
    const edge = await edgeDouble(onTestFinished, {
      onHello: () => ({
        type: 'error',
        code: 'unsupported_protocol',
        message: 'Protocol 1 is not supported',
        recoverySuggestion: 'Upgrade scangate-runner',
        supportedProtocols: [2],
      }),
    });
    const runner = startRunner(onTestFinished, edge);
    expect(await runner.exit).toBe(4);
    expect(runner.stdout()).toMatch(/"event":"link.edge_error".*unsupported_protocol/);
    expect(edge.connections).toBe(1);
  });

  it('on SIGTERM takes no new jobs, lets a running scan finish within the grace, flushes and exits 0', async ({
    onTestFinished,
  }) => {
    const edge = await edgeDouble(onTestFinished);
    const runner = startRunner(onTestFinished, edge, ['--grace', '30']);
    await edge.waitFor((m) => m.type === 'hello');
    // Paced by nmap's own delay (20 probes, 150 ms apart), not by how fast a loaded machine scans: still running at
    // SIGTERM, done well inside the 30 s grace.
    edge.dispatch('job_graceful', argvFor('-sT -p 1-20 --scan-delay 150ms --max-retries 0'));
    await edge.waitFor((m) => m.type === 'job.accepted');
    runner.child.kill('SIGTERM');
    await waitForOutput(runner, /runner\.draining/);
    edge.dispatch('job_late', argvFor(`-sT -p ${banner.port()}`));
    const late = await edge.waitFor(isRejected('job_late'));
    expect(late.error.type).toBe('no_runner');
    const finished = await edge.waitFor(isFinished('job_graceful'));
    expect(finished).toMatchObject({ exitCode: 0, cancelled: false, timedOut: false });
    expect(await runner.exit).toBe(0);
  }, 90_000);

  it('on SIGTERM cancels what outlives the grace, still reports it, and exits 0', async ({ onTestFinished }) => {
    const edge = await edgeDouble(onTestFinished);
    const runner = startRunner(onTestFinished, edge, ['--grace', '1']);
    await edge.waitFor((m) => m.type === 'hello');
    edge.dispatch('job_long', argvFor('-sT -p- --max-rate 100'));
    await edge.waitFor((m) => m.type === 'job.accepted');
    runner.child.kill('SIGTERM');
    const finished = await edge.waitFor(isFinished('job_long'));
    expect(finished.cancelled).toBe(true);
    expect(await runner.exit).toBe(0);
    expect(runner.stdout()).toMatch(/job.cancelled_at_shutdown/);
  });

  it('unprivileged (as nobody): says so in hello, refuses raw scans, runs connect scans', async ({
    onTestFinished,
  }) => {
    const edge = await edgeDouble(onTestFinished);
    startRunner(onTestFinished, edge, [], { asNobody: true });
    const hello = await edge.waitFor((m) => m.type === 'hello');
    expect(hello).toMatchObject({ privileged: false });
    edge.dispatch('job_raw', argvFor('-sS -p 22'));
    const rejected = await edge.waitFor(isRejected('job_raw'));
    expect(rejected.error.message).toMatch(/raw sockets.*not privileged/);
    edge.dispatch('job_connect', argvFor(`-sT -p ${banner.port()}`));
    const finished = await edge.waitFor(isFinished('job_connect'));
    expect(finished.exitCode).toBe(0);
    expect(finished.report?.hosts[0]?.ports[0]?.state).toBe('open');
  });

  // A SYN scan needs raw sockets, which only root (or CAP_NET_RAW) has: as another user this test cannot run, and
  // says so at the top of the output. CI runs as root; `id -u` tells which case a run was.
  it.runIf(isRoot)('privileged (root): says so in hello and runs a SYN scan', async ({ onTestFinished }) => {
    const edge = await edgeDouble(onTestFinished);
    startRunner(onTestFinished, edge);
    expect(await edge.waitFor((m) => m.type === 'hello')).toMatchObject({ privileged: true });
    edge.dispatch('job_syn', argvFor(`-sS -p ${banner.port()}`));
    const finished = await edge.waitFor(isFinished('job_syn'));
    expect(finished.exitCode).toBe(0);
    expect(finished.report?.hosts[0]?.ports[0]).toMatchObject({
      port: banner.port(),
      state: 'open',
      reason: 'syn-ack',
    });
  });

  it('answers --version, --help and bad options as a CLI should', async () => {
    // Async: a synchronous child would stall the event loop, and with it every concurrent test of this file.
    const run = promisify(execFile);
    const main = join(ROOT, 'runner/main.ts');
    expect((await run(process.execPath, [main, '--version'], { encoding: 'utf8' })).stdout).toBe(
      'scangate-runner 0.1.0\n',
    );
    expect((await run(process.execPath, [main, '--help'], { encoding: 'utf8' })).stdout).toContain('--network <cidr>');
    for (const bad of [
      ['run', '--nope'],
      ['run', '--server', edgeUrlPlaceholder(), '--token-file', tokenFile],
    ]) {
      const err = await run(process.execPath, [main, ...bad], { encoding: 'utf8' }).then(
        () => ({ code: 0, stderr: 'should have failed' }),
        (e: { code: number; stderr: string }) => e,
      );
      expect(err.code).toBe(2);
      expect(err.stderr.trim().split('\n')).toHaveLength(1);
      expect(err.stderr).toMatch(/^scangate-runner: /);
    }
  });

  it('run --nmap exits 1 and says what is wrong with the path: not executable, a directory, not found', async ({
    onTestFinished,
  }) => {
    const edge = await edgeDouble(onTestFinished);
    // One after another: three runner starts at once would only load the machine.
    for (const [nmap, said] of [
      ['/etc/passwd', /"problem":"\/etc\/passwd is not executable \(mode 0644\)"/],
      ['/etc', /"problem":"\/etc is a directory, not a program"/],
      ['/nonexistent/nmap', /"problem":"\/nonexistent\/nmap not found"/],
    ] as const) {
      const runner = startRunner(onTestFinished, edge, ['--nmap', nmap]);
      expect(await runner.exit).toBe(1);
      expect(runner.stdout()).toMatch(said);
      expect(runner.stdout()).toMatch(/"hint":"Point --nmap \(SCANGATE_NMAP\) at the nmap program\."/);
    }
    expect(edge.connections).toBe(0);
  });

  it('run to wss:// on a port that speaks plain HTTP logs that, and how to fix it', async ({ onTestFinished }) => {
    const edge = await edgeDouble(onTestFinished); // a plain HTTP (ws://) listener on loopback
    const plainPort = new URL(edge.url).port;
    const runner = startRunner(onTestFinished, edge, ['--server', `wss://127.0.0.1:${plainPort}`]);
    await waitForOutput(runner, /"event":"link.error"/);
    expect(runner.stdout()).toContain(
      `"message":"127.0.0.1:${plainPort} speaks plain HTTP, not TLS, so wss:// cannot work there (EPROTO)"`,
    );
    expect(runner.stdout()).toMatch(/"hint":"Use ws:\/\/127\.0\.0\.1:\d+ if the edge runs on this host/);
  });

  it('doctor reports a clear table and fails on a refused token', async ({ onTestFinished }) => {
    // Async: the edge double lives in this process and must keep answering while doctor runs.
    const run = promisify(execFile);
    const doctor = (url: string) =>
      run(
        process.execPath,
        [
          join(ROOT, 'runner/main.ts'),
          'doctor',
          '--server',
          url,
          '--token-file',
          privateTokenFile,
          '--network',
          '127.0.0.0/8',
        ],
        { encoding: 'utf8' },
      );
    const edge = await edgeDouble(onTestFinished);
    const good = (await doctor(edge.url)).stdout;
    expect(good).toMatch(/^CHECK\s+STATUS\s+DETAIL/);
    expect(good).toMatch(/token\s+ok\s+.*a runner token \(sgr_0…\)/);
    expect(good).toMatch(/nmap\s+ok\s+.*version 7/);
    expect(good).toMatch(/server\s+ok\s+.*token accepted: runner test-runner \(rn_test\)/);
    expect(good).toMatch(/networks\s+ok\s+declared 127\.0\.0\.0\/8, inside the grant \(127\.0\.0\.0\/8\)/);
    expect(good).toMatch(/setpriv\s+ok\s+.*parent-death signal/);
    expect(good).toMatch(/node\s+ok\s+Node \d+/);
    expect(good).toMatch(/scripts\s+ok\s+nmap 7\.\d+: \d{3} scripts, 0 unknown to this runner's catalog/);
    expect(good).not.toContain(TOKEN);
    expect(edge.connections).toBe(0); // no WebSocket, no hello: only the read-only self-check
    expect(edge.selfChecks).toBe(1);
    const wrong = await edgeDouble(onTestFinished, { tokens: ['another-token-0123456789'] });
    const refused = await doctor(wrong.url).then(
      () => undefined,
      (e: { code: number; stdout: string }) => e,
    );
    expect(refused?.code).toBe(1);
    expect(refused?.stdout).toMatch(/server\s+FAIL\s+.*token refused \(HTTP 401\)/);
    // Every other row is still there.
    for (const row of ['token', 'networks', 'nmap', 'prlimit', 'setpriv', 'privileges', 'node'])
      expect(refused?.stdout).toMatch(new RegExp(`^${row}\\s+(ok|warn)\\s`, 'm'));
  });

  it('doctor as an unprivileged user (nobody): says what that means, and names a token file it cannot read', async ({
    onTestFinished,
  }) => {
    // As root the test drops to nobody, as the systemd unit drops to its User=; as another user it is that user.
    const edge = await edgeDouble(onTestFinished);
    const nobody = isRoot ? nobodyCanRun() : undefined;
    const doctorAs = (tokenPath: string) => {
      const args = [
        nobody?.entry ?? join(ROOT, 'runner/main.ts'),
        'doctor',
        '--server',
        edge.url,
        '--token-file',
        tokenPath,
        '--network',
        '127.0.0.0/8',
        '--env-file',
        '/dev/null',
      ];
      const [cmd, argv] = nobody ? ['setpriv', [...DROP, nobody.node, ...args]] : [process.execPath, args];
      return promisify(execFile)(cmd, argv, { cwd: dir, encoding: 'utf8' }).then(
        (r) => ({ code: 0, stdout: r.stdout }),
        (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }),
      );
    };
    const readable = await doctorAs(tokenFile);
    expect(readable.stdout).toMatch(/^privileges\s+warn\s+uid \d+ without CAP_NET_RAW: connect scans only/m);
    expect(readable.stdout).toMatch(/^server\s+ok\s+.*token accepted/m);
    expect(readable.code).toBe(0); // warnings only
    if (nobody) {
      // privateTokenFile is root's, mode 0600: as the service user would find a token file installed wrongly.
      const locked = await doctorAs(privateTokenFile);
      expect(locked.code).toBe(1);
      expect(locked.stdout).toMatch(
        new RegExp(
          `^token\\s+FAIL\\s+--token-file ${privateTokenFile} is not readable by uid 65534 \\(EACCES\\)$`,
          'm',
        ),
      );
      expect(locked.stdout).toMatch(/fix: Run doctor as the service user/);
      expect(locked.stdout).toMatch(/^server\s+warn\s+.*the edge answers \(HTTP 401\); no token to check$/m);
      expect(locked.stdout).toMatch(/^nmap\s+ok\s/m);
    }
  });

  it('refuses a script its own nmap describes differently from the catalog, runs the rest, and doctor says so', async ({
    onTestFinished,
  }) => {
    // A real nmap with a data directory (NMAPDIR) whose http-title.nse claims other categories, plus a script the
    // catalog has never seen: what a modified or newer nmap install looks like to the runner.
    const datadir = join(dir, 'nmapdir');
    mkdirSync(join(datadir, 'scripts'), { recursive: true });
    const system = join(
      dirname(realpathSync(execFileSync('sh', ['-c', 'command -v nmap'], { encoding: 'utf8' }).trim())),
      '../share/nmap/scripts',
    );
    for (const file of readdirSync(system))
      if (file.endsWith('.nse')) symlinkSync(join(system, file), join(datadir, 'scripts', file));
    rmSync(join(datadir, 'scripts', 'http-title.nse'));
    writeFileSync(
      join(datadir, 'scripts', 'http-title.nse'),
      readFileSync(join(system, 'http-title.nse'), 'utf8').replace(/^categories = \{[^}]*\}/m, 'categories = {"safe"}'),
    );
    writeFileSync(
      join(datadir, 'scripts', 'unknown-extra.nse'),
      'description = "x"\ncategories = {"safe"}\nportrule = function() return false end\naction = function() end\n',
    );
    // FAKE (named as such): a stand-in for the version script nmap 7.95 added, which every -sV runs; its body does nothing.
    writeFileSync(
      join(datadir, 'scripts', 'iec61850-mms.nse'),
      'description = "FAKE stand-in"\ncategories = {"discovery", "intrusive", "version"}\nportrule = function() return false end\naction = function() end\n',
    );
    writeFileSync(
      join(datadir, 'scripts', 'script.db'),
      `${readFileSync(join(system, 'script.db'), 'utf8')}Entry { filename = "unknown-extra.nse", categories = { "safe", } }\nEntry { filename = "iec61850-mms.nse", categories = { "discovery", "intrusive", "version", } }\n`,
    );

    const edge = await edgeDouble(onTestFinished);
    startRunner(onTestFinished, edge, [], { env: { NMAPDIR: datadir } });
    await edge.waitFor((m) => m.type === 'hello');
    edge.dispatch('job_tagged', argvFor(`-sT -p ${banner.port()} --script http-title`));
    const rejected = await edge.waitFor(isRejected('job_tagged'));
    expect(rejected.error.message).toMatch(
      /refuses script http-title: this runner's nmap tags http-title as safe, but the catalog records default, discovery, safe/,
    );
    // -sV runs every version script of this nmap, named or not: one the policy does not allow refuses the scan.
    edge.dispatch('job_version', argvFor(`-sT -sV -p ${banner.port()}`));
    const version = await edge.waitFor(isRejected('job_version'));
    expect(version.error.message).toMatch(/refuses -sV: its nmap .* runs version script iec61850-mms with every -sV/);
    edge.dispatch('job_other', argvFor(`-sT -p ${banner.port()} --script ssh-hostkey`));
    const finished = await edge.waitFor(isFinished('job_other'));
    expect(finished.exitCode).toBe(0);

    const run = promisify(execFile);
    const report = await run(
      process.execPath,
      [
        join(ROOT, 'runner/main.ts'),
        'doctor',
        '--server',
        edge.url,
        '--token-file',
        tokenFile,
        '--network',
        '127.0.0.0/8',
      ],
      {
        encoding: 'utf8',
        env: { ...process.env, NMAPDIR: datadir },
      },
    );
    expect(report.stdout).toMatch(
      /scripts\s+warn\s+nmap 7\.\d+: \d{3} scripts, 1 unknown to this runner's catalog \(unknown-extra\), 2 tagged differently \(http-title, iec61850-mms\): refused; -sV runs \d+ version scripts \(iec61850-mms not target-only/,
    );
  });

  it('builds into one file that runs with only Node and nmap', async ({ onTestFinished }) => {
    const out = join(dir, 'scangate-runner.mjs');
    const run = promisify(execFile);
    await run(process.execPath, [join(ROOT, 'scripts/build-runner.ts'), out], { cwd: ROOT });
    expect((await run(process.execPath, [out, '--version'], { cwd: dir, encoding: 'utf8' })).stdout).toBe(
      'scangate-runner 0.1.0\n',
    );
    const edge = await edgeDouble(onTestFinished);
    startRunner(onTestFinished, edge, [], { entry: out });
    await edge.waitFor((m) => m.type === 'hello');
    edge.dispatch('job_bundle', argvFor(`-sT -p ${banner.port()}`));
    const finished = await edge.waitFor(isFinished('job_bundle'));
    expect(finished.report?.hosts[0]?.ports[0]?.state).toBe('open');
  });
});

function edgeUrlPlaceholder(): string {
  return 'ws://127.0.0.1:9';
}
