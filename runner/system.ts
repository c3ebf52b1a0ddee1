import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, readFile, stat } from 'node:fs/promises';
import { delimiter, isAbsolute, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Linux capability bits (include/uapi/linux/capability.h). */
const CAP_NET_ADMIN = 12n;
const CAP_NET_RAW = 13n;

export interface Privilege {
  /** nmap can use raw sockets (SYN, UDP, OS detection, traceroute). */
  privileged: boolean;
  root: boolean;
  /** Privileged through ambient capabilities, not root: nmap then needs NMAP_PRIVILEGED=1. */
  viaCapabilities: boolean;
  detail: string;
}

function hasCap(mask: bigint, bit: bigint): boolean {
  return ((mask >> bit) & 1n) === 1n;
}

/** Reads this process's user and capabilities. Ambient capabilities are the ones nmap inherits. */
export async function detectPrivilege(): Promise<Privilege> {
  const root = process.getuid?.() === 0;
  let effective = 0n;
  let ambient = 0n;
  try {
    const status = await readFile('/proc/self/status', 'utf8');
    effective = BigInt(`0x${/^CapEff:\s*([0-9a-f]+)/m.exec(status)?.[1] ?? '0'}`);
    ambient = BigInt(`0x${/^CapAmb:\s*([0-9a-f]+)/m.exec(status)?.[1] ?? '0'}`);
  } catch {
    // Not Linux: fall back to the user id alone.
  }
  if (root && (effective === 0n || hasCap(effective, CAP_NET_RAW))) {
    return { privileged: true, root, viaCapabilities: false, detail: 'root' };
  }
  if (hasCap(ambient, CAP_NET_RAW) && hasCap(ambient, CAP_NET_ADMIN)) {
    return { privileged: true, root, viaCapabilities: true, detail: 'CAP_NET_RAW and CAP_NET_ADMIN (ambient)' };
  }
  return {
    privileged: false,
    root,
    viaCapabilities: false,
    detail: root ? 'root without CAP_NET_RAW' : `uid ${process.getuid?.()} without CAP_NET_RAW`,
  };
}

export type Located = { ok: true; path: string } | { ok: false; problem: string };

/** What stands at `path`, for a program: runnable, or one line saying why not ("is a directory", "is not executable"). */
async function runnable(path: string): Promise<Located> {
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return {
      ok: false,
      problem:
        code === 'ENOENT' || code === 'ENOTDIR'
          ? `${path} not found`
          : `${path} cannot be read (${code ?? (e as Error).message})`,
    };
  }
  if (info.isDirectory()) return { ok: false, problem: `${path} is a directory, not a program` };
  try {
    // X_OK alone passes for root on any file with one execute bit, and on directories: the checks above come first.
    await access(path, constants.X_OK);
  } catch {
    return {
      ok: false,
      problem: `${path} is not executable (mode ${(info.mode & 0o7777).toString(8).padStart(4, '0')})`,
    };
  }
  return info.isFile()
    ? { ok: true, path: isAbsolute(path) ? path : join(process.cwd(), path) }
    : { ok: false, problem: `${path} is not a regular file` };
}

/**
 * The absolute path of a command, as the shell would find it on PATH (or the path itself, when it has a slash); or
 * why not, naming the path: not found, a directory, not executable.
 */
export async function locate(command: string): Promise<Located> {
  if (command.includes('/')) return runnable(command);
  let unusable: Located | undefined;
  for (const dir of (process.env.PATH ?? '').split(delimiter).filter(Boolean)) {
    const found = await runnable(join(dir, command));
    if (found.ok) return found;
    if (!found.problem.endsWith('not found')) unusable ??= found;
  }
  return unusable ?? { ok: false, problem: `${command} not found on PATH` };
}

/** The absolute path of a command (see `locate`), or undefined. */
export async function which(command: string): Promise<string | undefined> {
  const found = await locate(command);
  return found.ok ? found.path : undefined;
}

/** nmap's version ("7.93"), or undefined when it does not run. */
export async function nmapVersion(nmapPath: string): Promise<string | undefined> {
  try {
    const { stdout } = await run(nmapPath, ['--version'], { timeout: 10_000 });
    return /Nmap version ([0-9][0-9A-Za-z.]*)/.exec(stdout)?.[1];
  } catch {
    return undefined;
  }
}
