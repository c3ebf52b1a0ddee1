/**
 * The kernel fence: a check of every scan that does not depend on our parsing. Each job's nmap runs in a cgroup of
 * its own, and an nftables table made for that job drops every packet a socket of that cgroup sends to an address
 * outside the runner's `--network` list (IPv4 and IPv6; DNS and everything else included).
 *
 * Why this mechanism:
 * - nftables `socket cgroupv2` matches the cgroup of the process that made the socket, so only nmap (and anything it
 *   starts) is fenced: the host's own traffic and the runner's link to the edge (made by the runner, in its own
 *   cgroup) are never matched. A per-job table is created in one transaction before nmap starts and deleted in one
 *   after it ends, so there is no moment with half a rule set, and jobs never share a rule.
 * - A dedicated uid for nmap (`meta skuid`) would need the runner to switch users (CAP_SETUID on top of the raw-socket
 *   capabilities, and a second system user to install); a cgroup needs only CAP_NET_ADMIN and a writable cgroup (root,
 *   or systemd's `Delegate=yes`). A network namespace per job would need routing and addresses on the host.
 * - nmap sends raw Ethernet frames on a local LAN unless told `--send-ip`; those bypass netfilter, so a fenced job
 *   always gets `--send-ip` (see executor.ts), and its raw scans go through the IP stack where the rule sees them.
 *
 * What MUST hold: nmap is in its job's cgroup before it runs (the wrapper joins the cgroup, then execs it); the table
 * exists before that and is removed only after every process of the cgroup is gone; a table or cgroup left by a
 * runner that died (kill -9) is removed at the next start of any runner on the host (names carry the owner's pid;
 * so runners sharing a network namespace MUST share a pid namespace, or one would take another's live pid for dead).
 * Limits, said in the README: NSE's raw Ethernet calls (dnet) also bypass netfilter (the script catalog, not the
 * fence, refuses those scripts), and a name lookup through a local daemon (nscd, systemd-resolved over a Unix socket)
 * leaves from that daemon, not from the fenced cgroup.
 */
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { which } from './system.ts';

const run = promisify(execFile);

/** nft resolves `socket cgroupv2` paths under this directory (hard-coded in nftables). */
const NFT_CGROUP_ROOT = '/sys/fs/cgroup';
const CAP_NET_ADMIN = 12n;
/** Every table and cgroup of a fence is named with this prefix, then the owning runner's pid. */
const TABLE_PREFIX = 'scangate_runner_';
const CGROUP_PREFIX = 'scangate-runner-';

/** What the runner says about its fence: in doctor, the hello, the dashboard and scanner_info. */
export type FenceStatus =
  | { enforced: true; mechanism: 'nftables'; detail: string }
  | { enforced: false; detail: string };

/** A job's fence while its nmap runs. */
export interface FencedJob {
  /** The cgroup.procs file the wrapper writes its pid into before it execs nmap. */
  procsPath: string;
  /** Kills whatever is left in the cgroup, then removes the table and the cgroup. Never throws. */
  close(): Promise<void>;
}

interface Place {
  nft: string;
  /** The cgroup (v2) this runner is in, as a directory. */
  ownDir: string;
  /** The same, as nft names it (relative to /sys/fs/cgroup), and its depth in the v2 hierarchy. */
  ownNftPath: string;
  ownLevel: number;
}

/** The nft ruleset of one job's table. Pure: exported for tests. */
export function jobRuleset(table: string, cgroup: { nftPath: string; level: number }, networks: readonly string[]) {
  const v4 = networks.filter((n) => !n.includes(':'));
  const v6 = networks.filter((n) => n.includes(':'));
  const match = `socket cgroupv2 level ${cgroup.level} "${cgroup.nftPath}"`;
  const set = (name: string, type: string, elements: string[]) =>
    `  set ${name} { type ${type}; flags interval;${elements.length > 0 ? ` elements = { ${elements.join(', ')} }` : ''} }`;
  return [
    `table inet ${table} {`,
    set('allow4', 'ipv4_addr', v4),
    set('allow6', 'ipv6_addr', v6),
    '  chain output {',
    '    type filter hook output priority filter; policy accept;',
    `    ${match} meta nfproto ipv4 ip daddr @allow4 accept`,
    `    ${match} meta nfproto ipv6 ip6 daddr @allow6 accept`,
    `    ${match} counter drop`,
    '  }',
    '}',
    '',
  ].join('\n');
}

/** Why this process cannot fence, or undefined when it may try: CAP_NET_ADMIN in effect (root has it, as a rule). */
async function missingPrivilege(): Promise<string | undefined> {
  const root = process.getuid?.() === 0;
  try {
    const status = await readFile('/proc/self/status', 'utf8');
    const effective = BigInt(`0x${/^CapEff:\s*([0-9a-f]+)/m.exec(status)?.[1] ?? '0'}`);
    if (((effective >> CAP_NET_ADMIN) & 1n) === 1n) return undefined;
  } catch {
    if (root) return undefined; // not Linux: nft will say
  }
  return root ? 'root, but without CAP_NET_ADMIN' : 'not root and no CAP_NET_ADMIN';
}

/** Where cgroup v2 is mounted (under /sys/fs/cgroup, where nft looks) and this process's cgroup in it. */
async function findPlace(nft: string): Promise<Place | string> {
  let mountinfo: string;
  let own: string | undefined;
  try {
    mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
    own = /^0::(\/.*)$/m.exec(await readFile('/proc/self/cgroup', 'utf8'))?.[1];
  } catch {
    return 'no /proc (not Linux)';
  }
  const mount = mountinfo
    .split('\n')
    .map((line) => line.split(' '))
    .find((f) => f[f.indexOf('-') + 1] === 'cgroup2')?.[4];
  if (!mount || own === undefined) return 'cgroup v2 is not mounted';
  if (mount !== NFT_CGROUP_ROOT && !mount.startsWith(`${NFT_CGROUP_ROOT}/`))
    return `cgroup v2 is mounted at ${mount}, not under ${NFT_CGROUP_ROOT} where nft looks`;
  const ownPath = own === '/' ? '' : own;
  const nftPath = `${mount.slice(NFT_CGROUP_ROOT.length + 1)}${ownPath}`.replace(/^\//, '');
  if (!/^[\x21-\x7e]*$/.test(nftPath) || nftPath.includes('"')) return `cgroup path ${own} cannot be named to nft`;
  return {
    nft,
    ownDir: `${mount}${ownPath}`,
    ownNftPath: nftPath,
    ownLevel: ownPath.split('/').filter(Boolean).length,
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Kills every process in a cgroup and waits (up to 5 s) until it is empty, then removes it. Never throws. */
async function removeCgroup(dir: string): Promise<boolean> {
  const procs = join(dir, 'cgroup.procs');
  for (let i = 0; i < 100; i++) {
    let pids: number[];
    try {
      pids = (await readFile(procs, 'utf8')).split('\n').filter(Boolean).map(Number);
    } catch {
      return true; // gone already
    }
    if (pids.length === 0) {
      try {
        await rmdir(dir);
        return true;
      } catch {
        // a process still leaving: try again
      }
    }
    // cgroup.kill (Linux 5.14) kills the whole cgroup at once, forks included; else one by one.
    await writeFile(join(dir, 'cgroup.kill'), '1').catch(() => {
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    });
    await sleep(50);
  }
  return false;
}

/**
 * The fence of one runner process. `Fence.start` removes what dead runners left behind, then proves the mechanism
 * works here by fencing an empty job; it returns the status to report and, when enforced, the fence to use.
 */
export class Fence {
  readonly #place: Place;
  readonly #networks: readonly string[];
  #next = 0;

  private constructor(place: Place, networks: readonly string[]) {
    this.#place = place;
    this.#networks = networks;
  }

  static async start(networks: readonly string[]): Promise<{ status: FenceStatus; fence?: Fence }> {
    const unprivileged = await missingPrivilege();
    if (unprivileged) return { status: { enforced: false, detail: unprivileged } };
    const nft = await which('nft');
    if (!nft) return { status: { enforced: false, detail: 'nft not found (install nftables)' } };
    const place = await findPlace(nft);
    if (typeof place === 'string') return { status: { enforced: false, detail: place } };
    const fence = new Fence(place, networks);
    await fence.sweep();
    try {
      const probe = await fence.open();
      await probe.close();
    } catch (e) {
      return { status: { enforced: false, detail: `nftables refused the fence: ${firstLine(e)}` } };
    }
    const count = `${networks.length} network${networks.length === 1 ? '' : 's'}`;
    return { status: { enforced: true, mechanism: 'nftables', detail: `nftables, ${count}` }, fence };
  }

  /** Removes the tables and cgroups of runners that are gone (pid not alive) or of an earlier life of this pid. */
  async sweep(): Promise<void> {
    const stale = (pid: number) => pid === process.pid || !alive(pid);
    let entries: string[] = [];
    try {
      entries = await readdir(this.#place.ownDir);
    } catch {
      // nothing to sweep
    }
    for (const name of entries) {
      const m = new RegExp(`^${CGROUP_PREFIX}(\\d+)-job\\d+$`).exec(name);
      if (m && stale(Number(m[1]))) await removeCgroup(join(this.#place.ownDir, name));
    }
    let tables = '';
    try {
      tables = (await run(this.#place.nft, ['list', 'tables'])).stdout;
    } catch {
      return;
    }
    for (const m of tables.matchAll(new RegExp(`^table inet (${TABLE_PREFIX}(\\d+)_job\\d+)$`, 'gm'))) {
      if (stale(Number(m[2]))) await run(this.#place.nft, ['delete', 'table', 'inet', m[1]!]).catch(() => undefined);
    }
  }

  /** Makes a job's cgroup and its table; throws (leaving nothing behind) when either cannot be made. */
  async open(): Promise<FencedJob> {
    const n = this.#next++;
    const name = `${CGROUP_PREFIX}${process.pid}-job${n}`;
    const table = `${TABLE_PREFIX}${process.pid}_job${n}`;
    const dir = join(this.#place.ownDir, name);
    await mkdir(dir);
    const nftPath = this.#place.ownNftPath ? `${this.#place.ownNftPath}/${name}` : name;
    const ruleset = jobRuleset(table, { nftPath, level: this.#place.ownLevel + 1 }, this.#networks);
    try {
      await nftInput(this.#place.nft, ruleset);
    } catch (e) {
      await rmdir(dir).catch(() => undefined);
      throw e;
    }
    const nft = this.#place.nft;
    return {
      procsPath: join(dir, 'cgroup.procs'),
      async close() {
        // Every process goes before the rule does: nothing in the cgroup ever runs unfenced.
        const emptied = await removeCgroup(dir);
        if (emptied) await run(nft, ['delete', 'table', 'inet', table]).catch(() => undefined);
      },
    };
  }
}

/**
 * The fence tables and cgroups a runner process (by pid) has on this host now: what tests and the runner's own
 * cleanup look for. Empty where the host has no fence.
 */
export async function fenceLeftovers(pid: number): Promise<string[]> {
  const nft = await which('nft');
  const place = nft && (await findPlace(nft));
  if (!nft || !place || typeof place === 'string') return [];
  const cgroups = (await readdir(place.ownDir).catch(() => [] as string[]))
    .filter((name) => name.startsWith(`${CGROUP_PREFIX}${pid}-`))
    .map((name) => join(place.ownDir, name));
  const tables = (await run(nft, ['list', 'tables']).catch(() => ({ stdout: '' }))).stdout
    .split('\n')
    .filter((line) => line.startsWith(`table inet ${TABLE_PREFIX}${pid}_`));
  return [...tables, ...cgroups];
}

function nftInput(nft: string, ruleset: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = execFile(nft, ['-f', '-'], { timeout: 10_000 }, (error, _stdout, stderr) =>
      error ? reject(new Error(stderr.trim() || error.message)) : resolve(),
    );
    child.stdin?.end(ruleset);
  });
}

function firstLine(e: unknown): string {
  return ((e as Error).message ?? String(e)).split('\n')[0]!.slice(0, 160);
}

/**
 * The command that starts `command` inside the job's cgroup: a shell joins the cgroup, then execs it, so not one
 * instruction of nmap runs outside.
 */
export function fencedCommand(procsPath: string, command: readonly string[]): string[] {
  return ['/bin/sh', '-c', 'echo $$ > "$0" && exec "$@"', procsPath, ...command];
}
