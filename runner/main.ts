#!/usr/bin/env node
/**
 * scangate-runner: the daemon a lab admin installs on a host inside the lab network. See `--help`.
 */
import { lookup } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import { isSea } from 'node:sea';
import { EXIT, parseCommandLine, USAGE } from './config.ts';
import { doctor, formatChecks } from './doctor.ts';
import { Fence } from './fence.ts';
import { installCommand } from './install.ts';
import { RUNNER_VERSION, RunnerLink } from './link.ts';
import { createLogger } from './log.ts';
import { describeCoverage, readLocalScripts } from './nmap-scripts.ts';
import { detectPrivilege, locate, nmapVersion, which } from './system.ts';
import { parseUpdateArgs, update, UPDATE_USAGE } from './update.ts';
import type { Resolver } from './guard.ts';

/** The system resolver (A and AAAA, /etc/hosts included), every address. */
const systemResolver: Resolver = async (hostname) =>
  (await lookup(hostname, { all: true, verbatim: true })).map((a) => a.address);

async function main(): Promise<number> {
  if (process.argv[2] === 'update') {
    if (process.argv.includes('--help') || process.argv.includes('-h')) {
      process.stdout.write(`${UPDATE_USAGE}\n`);
      return EXIT.ok;
    }
    const plan = parseUpdateArgs(process.argv.slice(3), process.env, isSea() ? process.execPath : null);
    if (!plan.ok) {
      process.stderr.write(`scangate-runner: ${plan.message}\n`);
      return EXIT.usage;
    }
    return update(plan.plan, (line) => process.stdout.write(`${line}\n`));
  }
  const [sub, ...rest] = process.argv.slice(2);
  if (sub === 'install' || sub === 'uninstall') return installCommand(sub, rest);
  const parsed = parseCommandLine(process.argv.slice(2), process.env, (path) => readFileSync(path, 'utf8'));
  if (!parsed.ok) {
    process.stderr.write(`scangate-runner: ${parsed.message}\n`);
    return EXIT.usage;
  }
  const { command } = parsed;
  if (command.kind === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return EXIT.ok;
  }
  if (command.kind === 'version') {
    process.stdout.write(`scangate-runner ${RUNNER_VERSION}\n`);
    return EXIT.ok;
  }
  if (command.kind === 'doctor') {
    const checks = await doctor(command.settings);
    process.stdout.write(formatChecks(checks));
    return checks.some((c) => c.status === 'FAIL') ? EXIT.fatal : EXIT.ok;
  }

  const { config } = command;
  const log = createLogger();
  log.secret(config.token);
  const nmap = await locate(config.nmap);
  const prlimit = await locate('prlimit');
  if (!nmap.ok || !prlimit.ok) {
    log.log('error', 'runner.missing_tool', {
      problem: !nmap.ok ? nmap.problem : !prlimit.ok ? prlimit.problem : '',
      hint: !nmap.ok
        ? config.nmap === 'nmap'
          ? 'Install nmap (apt-get install nmap) or pass --nmap <path>.'
          : 'Point --nmap (SCANGATE_NMAP) at the nmap program.'
        : 'Install util-linux (prlimit).',
    });
    return EXIT.fatal;
  }
  const nmapPath = nmap.path;
  const setprivPath = await which('setpriv');
  if (!setprivPath)
    log.log('warn', 'runner.no_setpriv', {
      hint: 'Install util-linux setpriv so nmap dies with the runner if the runner is killed.',
    });
  const privilege = await detectPrivilege();
  const version = (await nmapVersion(nmapPath)) ?? null;
  const scripts = await readLocalScripts(nmapPath, version);
  if (scripts) log.log('info', 'runner.scripts', { coverage: describeCoverage(scripts).detail });
  else
    log.log('warn', 'runner.no_scripts', {
      hint: 'nmap --script-help all failed: scans with scripts are refused. Run doctor.',
    });
  // Before the link: what the last runner here left (kill -9) goes, and the hello can say whether scans are fenced.
  const { status: fenceStatus, fence } = await Fence.start(config.networks);
  if (!fence) log.log('warn', 'runner.unfenced', { detail: fenceStatus.detail });
  log.log('info', 'runner.start', {
    version: RUNNER_VERSION,
    nmap: nmapPath,
    nmapVersion: version,
    privileged: privilege.privileged,
    privilege: privilege.detail,
    networks: config.networks,
    maxConcurrency: config.maxConcurrency,
    fence: fenceStatus.detail,
  });
  const link = new RunnerLink({
    config,
    log,
    privilege,
    nmapPath,
    nmapVersion: version,
    resolve: systemResolver,
    scripts,
    fenceStatus,
    ...(fence && { fence }),
    ...(setprivPath && { setprivPath }),
    ...(process.env.SCANGATE_STATS_EVERY && { statsEvery: process.env.SCANGATE_STATS_EVERY }),
  });
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => void link.shutdown());
  return link.run();
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`scangate-runner: fatal: ${(e as Error)?.stack ?? String(e)}\n`);
    process.exit(EXIT.fatal);
  },
);
