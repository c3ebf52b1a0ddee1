#!/usr/bin/env node
/**
 * scangate-runner: the daemon a lab admin installs on a host inside the lab network. See `--help`.
 */
import { lookup } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import { EXIT, parseCommandLine, USAGE } from './config.ts';
import { doctor, formatChecks } from './doctor.ts';
import { installCommand } from './install.ts';
import { RUNNER_VERSION, RunnerLink } from './link.ts';
import { createLogger } from './log.ts';
import { describeCoverage, readLocalScripts } from './nmap-scripts.ts';
import { detectPrivilege, locate, nmapVersion, which } from './system.ts';
import type { Resolver } from './guard.ts';

/** The system resolver (A and AAAA, /etc/hosts included), every address. */
const systemResolver: Resolver = async (hostname) =>
  (await lookup(hostname, { all: true, verbatim: true })).map((a) => a.address);

async function main(): Promise<number> {
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
  log.log('info', 'runner.start', {
    version: RUNNER_VERSION,
    nmap: nmapPath,
    nmapVersion: version,
    privileged: privilege.privileged,
    privilege: privilege.detail,
    networks: config.networks,
    maxConcurrency: config.maxConcurrency,
  });
  const link = new RunnerLink({
    config,
    log,
    privilege,
    nmapPath,
    nmapVersion: version,
    resolve: systemResolver,
    scripts,
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
