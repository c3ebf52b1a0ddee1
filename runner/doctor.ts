import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import WebSocket from 'ws';
import { encodeRunnerFrame, parseEdgeFrame, PROTOCOL_VERSION } from '../shared/protocol/index.ts';
import type { RunnerConfig } from './config.ts';
import { LIMITS } from './executor.ts';
import { RUNNER_VERSION } from './link.ts';
import { describeCoverage, readLocalScripts } from './nmap-scripts.ts';
import { detectPrivilege, nmapVersion, which } from './system.ts';

const run = promisify(execFile);

export interface Check {
  check: string;
  status: 'ok' | 'warn' | 'FAIL';
  detail: string;
}

const RAW_TYPES = '-sS -sU -sA -sF -sN -sX -sW -sM -O --traceroute -PU -PY -PE -PP -PM';

/** Asks the edge for a welcome with this runner's token, as `run` would, then hangs up. */
export function probeEdge(url: string, token: string, networks: string[], privileged: boolean, nmap: string | null): Promise<Check> {
  return new Promise((resolve) => {
    const socket = new WebSocket(url, { headers: { Authorization: `Bearer ${token}` }, handshakeTimeout: 5000 });
    const done = (status: Check['status'], detail: string) => {
      clearTimeout(timer);
      socket.removeAllListeners();
      socket.on('error', () => {});
      socket.terminate();
      resolve({ check: 'server', status, detail });
    };
    const timer = setTimeout(() => done('FAIL', `${url}: no welcome within 5 s`), 6000);
    socket.on('unexpected-response', (_req, res) =>
      done('FAIL', res.statusCode === 401 || res.statusCode === 403 ? `${url}: token rejected (HTTP ${res.statusCode}); mint a new runner token` : `${url}: HTTP ${res.statusCode}`),
    );
    socket.on('error', (e) => done('FAIL', `${url}: ${e.message}`));
    socket.on('open', () =>
      socket.send(
        encodeRunnerFrame({ type: 'hello', protocol: PROTOCOL_VERSION, runnerVersion: RUNNER_VERSION, nmapVersion: nmap, privileged, maxConcurrency: 1, networks, resume: [] }),
      ),
    );
    socket.on('message', (data) => {
      const frame = parseEdgeFrame(data.toString());
      if (!frame.ok) return;
      if (frame.message.type === 'welcome') done('ok', `${url}: token accepted (runner ${frame.message.runnerId})`);
      else if (frame.message.type === 'error') done('FAIL', `${url}: ${frame.message.message}`);
    });
  });
}

/** Every check `run` depends on, as rows. */
export async function doctor(config: Partial<RunnerConfig>): Promise<Check[]> {
  const checks: Check[] = [];
  const nmapPath = await which(config.nmap ?? 'nmap');
  const version = nmapPath ? await nmapVersion(nmapPath) : undefined;
  checks.push(
    nmapPath && version
      ? { check: 'nmap', status: 'ok', detail: `${nmapPath}, version ${version}` }
      : { check: 'nmap', status: 'FAIL', detail: nmapPath ? `${nmapPath} does not run` : `${config.nmap ?? 'nmap'} not found; install it (apt-get install nmap) or pass --nmap` },
  );
  if (nmapPath && version) {
    const scripts = await readLocalScripts(nmapPath, version);
    const coverage = scripts && describeCoverage(scripts);
    checks.push(
      coverage
        ? { check: 'scripts', status: coverage.ok ? 'ok' : 'warn', detail: coverage.detail }
        : { check: 'scripts', status: 'warn', detail: 'nmap --script-help all failed: scans with scripts will be refused' },
    );
  }
  const prlimit = await which('prlimit');
  checks.push(prlimit ? { check: 'prlimit', status: 'ok', detail: prlimit } : { check: 'prlimit', status: 'FAIL', detail: 'not found; install util-linux' });
  if (prlimit && nmapPath && version) {
    try {
      await run(prlimit, [`--as=${LIMITS.addressSpaceBytes}`, `--nofile=${LIMITS.openFiles}`, '--core=0', '--cpu=10', '--', nmapPath, '--version'], { timeout: 10_000 });
      checks.push({ check: 'limits', status: 'ok', detail: `nmap runs under ${LIMITS.addressSpaceBytes / 2 ** 20} MiB address space, ${LIMITS.openFiles} files, no core` });
    } catch (e) {
      checks.push({ check: 'limits', status: 'FAIL', detail: `nmap fails under prlimit: ${(e as Error).message.split('\n')[0]}` });
    }
  }
  const setpriv = await which('setpriv');
  checks.push(
    setpriv
      ? { check: 'setpriv', status: 'ok', detail: `${setpriv}: nmap gets a parent-death signal, so it never outlives a killed runner` }
      : { check: 'setpriv', status: 'warn', detail: 'not found (util-linux): a runner killed with SIGKILL would leave its nmap running' },
  );
  const privilege = await detectPrivilege();
  checks.push(
    privilege.privileged
      ? { check: 'privileges', status: 'ok', detail: `${privilege.detail}: all scan types, raw ones included (${RAW_TYPES})` }
      : { check: 'privileges', status: 'warn', detail: `${privilege.detail}: connect scans only (-sT, -sV, -sC, -sn); refuses ${RAW_TYPES}` },
  );
  const networks = config.networks ?? [];
  checks.push(
    networks.length > 0
      ? { check: 'networks', status: 'ok', detail: networks.join(', ') }
      : { check: 'networks', status: 'FAIL', detail: 'none given; pass --network <cidr> (required to run)' },
  );
  if (config.connectUrl && config.token) {
    checks.push(await probeEdge(config.connectUrl, config.token, networks.length > 0 ? networks : ['127.0.0.1/32'], privilege.privileged, version ?? null));
  } else {
    checks.push({ check: 'server', status: 'FAIL', detail: 'no --server and token given; cannot check the edge' });
  }
  return checks;
}

export function formatChecks(checks: Check[]): string {
  const width = Math.max(...checks.map((c) => c.check.length), 5);
  const lines = [`${'CHECK'.padEnd(width)}  STATUS  DETAIL`, ...checks.map((c) => `${c.check.padEnd(width)}  ${c.status.padEnd(6)}  ${c.detail}`)];
  return `${lines.join('\n')}\n`;
}
