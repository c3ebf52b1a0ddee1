import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { scanError, type ScanError } from '../shared/errors/index.ts';
import { parseNmapXml, type Report } from '../shared/nmap-xml/index.ts';
import { MAX_XML_BYTES, truncateUtf8, utf8ByteLength } from '../shared/protocol/index.ts';
import { OutputBatcher } from './batcher.ts';
import { fencedCommand, type Fence, type FencedJob } from './fence.ts';
import { parseProgressLine, type Progress } from './progress.ts';

/** Hard limits on the nmap process (prlimit). CPU time is the scan timeout plus this slack. */
export const LIMITS = { addressSpaceBytes: 512 * 1024 * 1024, openFiles: 256, cpuSlackSec: 5 } as const;
/** After SIGTERM, the process group gets this long before SIGKILL. */
export const KILL_AFTER_MS = 5000;
/** Largest XML file read to build the report (only its first MAX_XML_BYTES are sent on as nmap's XML). */
const MAX_XML_READ_BYTES = 32 * 1024 * 1024;

export interface ExecuteOptions {
  /** Guarded argv: options, `--`, address targets. */
  argv: readonly string[];
  timeoutSec: number;
  caps: { stdout: number; stderr: number };
  nmapPath: string;
  prlimitPath?: string;
  /**
   * util-linux `setpriv`, when present: nmap is started with a parent-death signal (SIGKILL), so a runner that
   * dies without cleaning up (kill -9, OOM) never leaves a scan running on its own.
   */
  setprivPath?: string;
  /** Set when the runner has raw-socket capabilities without being root: nmap then needs NMAP_PRIVILEGED. */
  privilegedWithoutRoot?: boolean;
  /** Names the runner resolved, by the address it passed to nmap, to put back into the report. */
  resolved?: ReadonlyMap<string, string>;
  onOutput: (stream: 'stdout' | 'stderr', data: string) => void;
  onProgress?: (progress: Progress) => void;
  /** Aborting cancels the scan. */
  signal?: AbortSignal;
  /** Called with the pid once nmap runs (for tests and logs). */
  onSpawn?: (pid: number) => void;
  /** Called once, when nmap's first stdout bytes are read (latency measurement). */
  onFirstOutput?: () => void;
  /** nmap's --stats-every interval (default 5s). */
  statsEvery?: string;
  /** The kernel fence (fence.ts): when given, nmap runs in a fenced cgroup of its own, with `--send-ip`. */
  fence?: Fence;
}

export interface ExecuteResult {
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  cancelled: boolean;
  durationMs: number;
  truncated: { stdout: boolean; stderr: boolean };
  report: Report | null;
  /**
   * nmap's XML document exactly as nmap wrote it, cut at MAX_XML_BYTES (`truncated`); null when there is none to
   * send: nmap wrote none, it is larger than the runner reads, or it is not UTF-8 (nmap escapes everything else).
   */
  xml: { text: string; truncated: boolean } | null;
  error: ScanError | null;
}

/**
 * The argv nmap is started with: the runner's own output options go before `--`. `--noninteractive` is left
 * out on purpose: nmap 7.93 prints no `--stats-every` lines with it, and stdin is /dev/null anyway. A fenced scan
 * gets `--send-ip` (the policy refuses it from users): raw Ethernet frames would bypass the fence's netfilter rule.
 */
export function nmapArgv(argv: readonly string[], xmlPath: string, statsEvery = '5s', fenced = false): string[] {
  const dashes = argv.indexOf('--');
  return [
    ...argv.slice(0, dashes),
    ...(fenced ? ['--send-ip'] : []),
    '--stats-every',
    statsEvery,
    '-oX',
    xmlPath,
    ...argv.slice(dashes),
  ];
}

/** Runs one scan to its end. Never throws: a process that cannot start is an `execution_error` result. */
export async function execute(options: ExecuteOptions): Promise<ExecuteResult> {
  const started = Date.now();
  let fenced: FencedJob | undefined;
  if (options.fence) {
    try {
      fenced = await options.fence.open();
    } catch (e) {
      // Fail closed: a runner that reported a fence never runs a scan without one.
      return notStarted(
        started,
        scanError(
          'execution_error',
          `the kernel fence could not be set up for this scan: ${(e as Error).message.split('\n')[0]}`,
          'Run scangate-runner doctor on the runner host (fence row); the scan did not run.',
        ),
      );
    }
  }
  const dir = await mkdtemp(join(tmpdir(), 'scangate-job-'));
  const xmlPath = join(dir, 'scan.xml');
  const batcher = new OutputBatcher({ caps: options.caps, onChunk: options.onOutput });
  let timedOut = false;
  let cancelled = false;
  let spawnError: Error | undefined;

  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8' };
  if (options.privilegedWithoutRoot) env.NMAP_PRIVILEGED = '1';
  const limited = [
    options.prlimitPath ?? 'prlimit',
    `--as=${LIMITS.addressSpaceBytes}`,
    `--nofile=${LIMITS.openFiles}`,
    '--core=0',
    `--cpu=${options.timeoutSec + LIMITS.cpuSlackSec}`,
    '--',
    options.nmapPath,
    ...nmapArgv(options.argv, xmlPath, options.statsEvery, fenced !== undefined),
  ];
  // setpriv and prlimit each exec the next program, so the death signal set here is nmap's own.
  const deathbound = options.setprivPath ? [options.setprivPath, '--pdeathsig', 'KILL', '--', ...limited] : limited;
  const command = fenced ? fencedCommand(fenced.procsPath, deathbound) : deathbound;
  const child = spawn(command[0]!, command.slice(1), {
    cwd: dir,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });

  const group = child.pid;
  const killGroup = (signal: NodeJS.Signals) => {
    if (group === undefined) return;
    try {
      process.kill(-group, signal);
    } catch {
      // ESRCH: the group is gone already.
    }
  };
  let killTimer: ReturnType<typeof setTimeout> | undefined;
  const stop = () => {
    killGroup('SIGTERM');
    killTimer ??= setTimeout(() => killGroup('SIGKILL'), KILL_AFTER_MS);
  };

  let line = '';
  const progress = (text: string) => {
    if (!options.onProgress) return;
    line += text;
    const lines = line.split('\n');
    line = lines.pop() ?? '';
    if (line.length > 4096) line = '';
    for (const l of lines) {
      const p = parseProgressLine(l);
      if (p) options.onProgress(p);
    }
  };
  // Output flows pipe → batcher (caps, chunking) → onOutput; progress reads stdout as it comes.
  let first = true;
  child.stdout.on('data', (chunk: Buffer) => {
    if (first) {
      first = false;
      options.onFirstOutput?.();
    }
    batcher.write('stdout', chunk);
    progress(chunk.toString('latin1'));
  });
  child.stderr.on('data', (chunk: Buffer) => batcher.write('stderr', chunk));

  if (group !== undefined) options.onSpawn?.(group);
  const timeout = setTimeout(() => {
    timedOut = true;
    stop();
  }, options.timeoutSec * 1000);
  const onAbort = () => {
    if (!timedOut) cancelled = true;
    stop();
  };
  if (options.signal?.aborted) onAbort();
  options.signal?.addEventListener('abort', onAbort, { once: true });

  const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('error', (e) => {
      spawnError = e;
      resolve({ code: null, signal: null });
    });
    // Once nmap is gone, anything left in its group is a straggler that could hold the pipes open.
    child.once('exit', () => killGroup('SIGKILL'));
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  clearTimeout(timeout);
  options.signal?.removeEventListener('abort', onAbort);
  // Whatever nmap left behind in its group goes too: never leave a process.
  killGroup('SIGKILL');
  if (killTimer) clearTimeout(killTimer);
  batcher.flush(true);

  let report: Report | null = null;
  let xml: ExecuteResult['xml'] = null;
  let error: ScanError | null = null;
  if (spawnError) {
    error = scanError(
      'execution_error',
      `nmap could not be started: ${spawnError.message}`,
      'Check that prlimit (util-linux) and nmap are installed on the runner host (scangate-runner doctor).',
    );
  } else if (code === 127 || code === 126) {
    error = scanError(
      'execution_error',
      `nmap could not be started (exit ${code}): ${options.nmapPath} is missing or not executable`,
      'Fix --nmap, or install nmap on the runner host (scangate-runner doctor).',
    );
  } else {
    const read = await readReport(xmlPath);
    if (read.xml) xml = keptXml(read.xml);
    if (read.ok) report = read.report;
    else if (code === 0)
      error = scanError(
        'execution_error',
        `nmap finished but its report is unusable: ${read.problem}`,
        'Look at the scan output; run scangate-runner doctor on the runner host.',
      );
  }
  if (report && options.resolved && options.resolved.size > 0) nameHosts(report, options.resolved);
  await rm(dir, { recursive: true, force: true });
  await fenced?.close();

  return {
    exitCode: code,
    signal: signal ?? null,
    timedOut,
    cancelled,
    durationMs: Date.now() - started,
    truncated: { ...batcher.truncated },
    report,
    xml,
    error,
  };
}

function notStarted(started: number, error: ScanError): ExecuteResult {
  return {
    exitCode: null,
    signal: null,
    timedOut: false,
    cancelled: false,
    durationMs: Date.now() - started,
    truncated: { stdout: false, stderr: false },
    report: null,
    xml: null,
    error,
  };
}

type ReadReport = ({ ok: true; report: Report } | { ok: false; problem: string }) & { xml: string | null };

/** nmap's XML file, read once: the report parsed from it, and its text (null when unreadable or not UTF-8). */
async function readReport(path: string): Promise<ReadReport> {
  let bytes: Buffer;
  try {
    const size = (await stat(path)).size;
    if (size > MAX_XML_READ_BYTES)
      return { ok: false, problem: `XML output is ${size} bytes, over ${MAX_XML_READ_BYTES}`, xml: null };
    bytes = await readFile(path);
  } catch (e) {
    return {
      ok: false,
      problem: `no XML output (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
      xml: null,
    };
  }
  let text: string;
  try {
    // Fatal: a document sent on "as nmap wrote it" must decode without a replacement character.
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return { ...parseNmapXml(bytes.toString('utf8')), xml: null };
  }
  return { ...parseNmapXml(text), xml: text };
}

/** The XML as sent to the edge: at most MAX_XML_BYTES of it, never splitting a character. */
export function keptXml(text: string): { text: string; truncated: boolean } {
  if (text.length * 3 <= MAX_XML_BYTES || utf8ByteLength(text) <= MAX_XML_BYTES) return { text, truncated: false };
  return { text: truncateUtf8(text, MAX_XML_BYTES), truncated: true };
}

/** Puts the names the runner resolved back on the hosts nmap scanned by address. */
function nameHosts(report: Report, resolved: ReadonlyMap<string, string>): void {
  for (const host of report.hosts) {
    for (const address of host.addresses) {
      const name = resolved.get(address.addr);
      if (name && !host.hostnames.some((h) => h.name === name)) host.hostnames.unshift({ name, type: 'user' });
    }
  }
}
