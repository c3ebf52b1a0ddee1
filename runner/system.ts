import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, readFile } from 'node:fs/promises';
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
  return { privileged: false, root, viaCapabilities: false, detail: root ? 'root without CAP_NET_RAW' : `uid ${process.getuid?.()} without CAP_NET_RAW` };
}

/** The absolute path of a command, as the shell would find it on PATH (or the path itself). */
export async function which(command: string): Promise<string | undefined> {
  const candidates = command.includes('/')
    ? [command]
    : (process.env.PATH ?? '').split(delimiter).filter(Boolean).map((dir) => join(dir, command));
  for (const candidate of candidates) {
    try {
      await access(candidate, constants.X_OK);
      return isAbsolute(candidate) ? candidate : join(process.cwd(), candidate);
    } catch {
      // next
    }
  }
  return undefined;
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
