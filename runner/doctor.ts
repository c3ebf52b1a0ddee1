import { execFile } from 'node:child_process';
import { statSync } from 'node:fs';
import { promisify } from 'node:util';
import type { Settings } from './config.ts';
import { LIMITS } from './executor.ts';
import { Fence, type FenceStatus } from './fence.ts';
import { describeCoverage, readLocalScripts } from './nmap-scripts.ts';
import { askEdge, edgeRows, type Check, type EdgeAnswer } from './self-check.ts';
import { detectPrivilege, locate, nmapVersion, type Privilege } from './system.ts';

export type { Check } from './self-check.ts';

const run = promisify(execFile);

const RAW_TYPES = '-sS -sU -sA -sF -sN -sX -sW -sM -O --traceroute -PU -PY -PE -PP -PM';
/** A runner token as the edge mints it (worker/tokens.ts): sgr_, a shard digit, 43 base64url characters. */
const RUNNER_TOKEN = /^sgr_[0-9a-f][A-Za-z0-9_-]{43}$/;
/** The oldest Node the runner supports (package.json engines; the bundle targets node22). */
const MIN_NODE_MAJOR = 22;

function environmentRow(settings: Settings): Check {
  const file = settings.envFile;
  if (!file)
    return {
      check: 'environment',
      status: 'ok',
      detail: 'no env file: settings from flags and this shell only (pass --env-file to check another)',
    };
  if (file.problem) {
    return {
      check: 'environment',
      status: file.explicit ? 'FAIL' : 'warn',
      detail: `${file.problem}: the service's settings were not read`,
      fix: 'Run doctor as root or as the service user (sudo -u scangate …), or pass --env-file.',
    };
  }
  const read = `read ${file.path}${file.keys.length > 0 ? ` (${file.keys.join(', ')})` : ', which sets no SCANGATE_ variable'}`;
  if (file.overridden.length > 0) {
    return {
      check: 'environment',
      status: 'warn',
      detail: `${read}; this shell overrides ${file.overridden.join(', ')}, the service does not`,
      fix: `Unset ${file.overridden.join(' ')} to check what the service uses.`,
    };
  }
  return { check: 'environment', status: 'ok', detail: read };
}

function nodeRow(): Check {
  const major = Number(process.versions.node.split('.')[0]);
  const detail = `Node ${process.versions.node} (${process.execPath})`;
  return major >= MIN_NODE_MAJOR
    ? { check: 'node', status: 'ok', detail }
    : {
        check: 'node',
        status: 'FAIL',
        detail: `${detail}: too old`,
        fix: `Install Node ${MIN_NODE_MAJOR} or newer (nodejs.org, or your distribution's backports).`,
      };
}

function tokenRow(settings: Settings): Check {
  const { token } = settings;
  const where = token.path ?? 'SCANGATE_RUNNER_TOKEN';
  if (!token.source)
    return {
      check: 'token',
      status: 'FAIL',
      detail: 'no runner token given',
      fix: 'Set SCANGATE_TOKEN_FILE=/etc/scangate/runner.token in runner.env (or --token-file) and paste the token into that file.',
    };
  if (token.problem && token.value === undefined) {
    const fix = /does not exist/.test(token.problem)
      ? `Create it holding the runner token (README: "Installing the runner"): install -m 0640 -o root -g scangate /dev/null ${where}, then paste into it.`
      : /EACCES/.test(token.problem)
        ? `Run doctor as the service user (sudo -u scangate …), or make ${where} readable by it: chgrp scangate, chmod 0640.`
        : `Point SCANGATE_TOKEN_FILE at a file holding the runner token.`;
    return { check: 'token', status: 'FAIL', detail: token.problem, fix };
  }
  const value = token.value ?? '';
  if (value === '')
    return {
      check: 'token',
      status: 'FAIL',
      detail: `${where} is empty`,
      fix: 'Paste the runner token into it (shown once by POST /v1/runners).',
    };
  if (value.startsWith('sgt_'))
    return {
      check: 'token',
      status: 'FAIL',
      detail: `${where} holds an API token (sgt_…), not a runner token`,
      fix: 'Use a runner token: an admin mints one with POST /v1/runners {name, networks}; it starts sgr_.',
    };
  if (!RUNNER_TOKEN.test(value)) {
    const why = value.startsWith('sgr_')
      ? `is ${value.length} characters, not 48: cut short or pasted with extra characters`
      : 'does not start sgr_, as runner tokens do';
    return {
      check: 'token',
      status: 'FAIL',
      detail: `the token in ${where} ${why}`,
      fix: 'Paste the whole runner token printed by POST /v1/runners, and nothing else.',
    };
  }
  if (token.path) {
    try {
      const mode = statSync(token.path).mode & 0o777;
      if (mode & 0o004) {
        return {
          check: 'token',
          status: 'warn',
          detail: `${token.path}: a runner token, but readable by every user (mode ${mode.toString(8).padStart(4, '0')})`,
          fix: `chmod 0640 ${token.path} (owner root, group scangate).`,
        };
      }
    } catch {
      // read a moment ago; a race with an admin is not worth a row
    }
  }
  return { check: 'token', status: 'ok', detail: `${where}: a runner token (sgr_${value.slice(4, 5)}…)` };
}

function privilegeRow(privilege: Privilege, settings: Settings): Check {
  // Run as root to read the service's env file, doctor is more privileged than the service (User=scangate).
  const asService =
    privilege.root && settings.envFile && !settings.envFile.problem
      ? "; the service runs as its unit's User= with only the capabilities the unit grants: check as it with sudo -u scangate"
      : '';
  return privilege.privileged
    ? {
        check: 'privileges',
        status: 'ok',
        detail: `${privilege.detail}: all scan types, raw ones included${asService}`,
      }
    : {
        check: 'privileges',
        status: 'warn',
        detail: `${privilege.detail}: connect scans only (-sT, -sV, -sC, -sn); refuses ${RAW_TYPES}`,
        fix: "For raw scans, uncomment the CAP_NET_RAW CAP_NET_ADMIN lines of scangate-runner.service (the admin's opt-in).",
      };
}

async function toolRows(settings: Settings): Promise<Check[]> {
  const rows: Check[] = [];
  const nmap = await locate(settings.nmap);
  const version = nmap.ok ? await nmapVersion(nmap.path) : undefined;
  if (!nmap.ok)
    rows.push({
      check: 'nmap',
      status: 'FAIL',
      detail: nmap.problem,
      fix:
        settings.nmap === 'nmap'
          ? 'Install nmap (apt-get install nmap), or set SCANGATE_NMAP to its path.'
          : 'Set SCANGATE_NMAP (or --nmap) to the nmap program, or install nmap and drop the setting.',
    });
  else if (!version)
    rows.push({
      check: 'nmap',
      status: 'FAIL',
      detail: `${nmap.path} runs, but prints no nmap version`,
      fix: 'Point SCANGATE_NMAP at nmap itself.',
    });
  else {
    rows.push({ check: 'nmap', status: 'ok', detail: `${nmap.path}, version ${version}` });
    const scripts = await readLocalScripts(nmap.path, version);
    const coverage = scripts && describeCoverage(scripts);
    rows.push(
      coverage
        ? {
            check: 'scripts',
            status: coverage.ok ? 'ok' : 'warn',
            detail: coverage.detail,
            ...(!coverage.ok && {
              fix: 'Those scripts are refused; the rest run. Use the nmap release the catalog records to serve them.',
            }),
          }
        : {
            check: 'scripts',
            status: 'warn',
            detail: 'nmap --script-help all failed: scans with scripts will be refused',
            fix: "Check nmap's data directory (NMAPDIR).",
          },
    );
  }
  const prlimit = await locate('prlimit');
  rows.push(
    prlimit.ok
      ? { check: 'prlimit', status: 'ok', detail: prlimit.path }
      : {
          check: 'prlimit',
          status: 'FAIL',
          detail: prlimit.problem,
          fix: 'Install util-linux (prlimit): run needs it.',
        },
  );
  if (prlimit.ok && nmap.ok && version) {
    try {
      await run(
        prlimit.path,
        [
          `--as=${LIMITS.addressSpaceBytes}`,
          `--nofile=${LIMITS.openFiles}`,
          '--core=0',
          '--cpu=10',
          '--',
          nmap.path,
          '--version',
        ],
        { timeout: 10_000 },
      );
      rows.push({
        check: 'limits',
        status: 'ok',
        detail: `nmap runs under ${LIMITS.addressSpaceBytes / 2 ** 20} MiB address space, ${LIMITS.openFiles} files, no core`,
      });
    } catch (e) {
      rows.push({
        check: 'limits',
        status: 'FAIL',
        detail: `nmap fails under prlimit: ${(e as Error).message.split('\n')[0]}`,
        fix: 'Check that this nmap runs in 512 MiB of address space.',
      });
    }
  }
  const setpriv = await locate('setpriv');
  rows.push(
    setpriv.ok
      ? {
          check: 'setpriv',
          status: 'ok',
          detail: `${setpriv.path}: nmap gets a parent-death signal, so it never outlives a killed runner`,
        }
      : {
          check: 'setpriv',
          status: 'warn',
          detail: `${setpriv.problem}: a runner killed with SIGKILL would leave its nmap running`,
          fix: 'Install util-linux (setpriv).',
        },
  );
  return rows;
}

/** The kernel fence, as `run` would set it up: proved by fencing an empty job (a table made and removed at once). */
function fenceRow(status: FenceStatus): Check {
  return status.enforced
    ? { check: 'fence', status: 'ok', detail: status.detail }
    : {
        check: 'fence',
        status: 'warn',
        detail: `unavailable: ${status.detail}; scans run unfenced (the edge may refuse to route to this runner)`,
        fix: 'Run the runner as root, or grant it CAP_NET_ADMIN with Delegate=yes (scangate-runner.service), and install nftables: the kernel then drops every scan packet outside --network.',
      };
}

function settingsRow(settings: Settings): Check {
  if (settings.other.length > 0)
    return {
      check: 'settings',
      status: 'FAIL',
      detail: settings.other.join('; '),
      fix: 'Correct them in runner.env (or the flags).',
    };
  return {
    check: 'settings',
    status: 'ok',
    detail: `${settings.maxConcurrency} scans at once, ${settings.graceSec} s grace on SIGTERM`,
  };
}

/**
 * Every check `run` depends on, each a row, whatever the others found: nothing here stops at the first problem.
 * The edge is asked through its read-only self-check, never with a hello, so a live runner keeps its link.
 */
export async function doctor(settings: Settings): Promise<Check[]> {
  // Any printable token goes to the edge, even one the token row fails: the edge's answer (401, 403) says more.
  const token =
    settings.token.value && /^[\x21-\x7e]{1,512}$/.test(settings.token.value) ? settings.token.value : undefined;
  const [edge, tools, privilege, fence] = await Promise.all([
    settings.server.connectUrl
      ? askEdge(settings.server.connectUrl, token)
      : Promise.resolve<EdgeAnswer | undefined>(undefined),
    toolRows(settings),
    detectPrivilege(),
    Fence.start(settings.networks.declared),
  ]);
  return [
    environmentRow(settings),
    nodeRow(),
    tokenRow(settings),
    ...edgeRows(settings, edge),
    settingsRow(settings),
    ...tools,
    privilegeRow(privilege, settings),
    fenceRow(fence.status),
  ];
}

export function formatChecks(checks: Check[]): string {
  const width = Math.max(...checks.map((c) => c.check.length), 5);
  const pad = ' '.repeat(width + 2 + 6 + 2);
  const lines = [`${'CHECK'.padEnd(width)}  STATUS  DETAIL`];
  for (const c of checks) {
    lines.push(`${c.check.padEnd(width)}  ${c.status.padEnd(6)}  ${c.detail}`);
    if (c.fix && c.status !== 'ok') lines.push(`${pad}fix: ${c.fix}`);
  }
  return `${lines.join('\n')}\n`;
}
