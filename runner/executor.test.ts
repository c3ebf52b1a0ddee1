import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { useBannerServer } from '../test/helpers/banner-server.ts';
import { validateScanRequest } from '../shared/policy/index.ts';
import { execute, KILL_AFTER_MS, type ExecuteOptions } from './executor.ts';

/** Real nmap against 127.0.0.1 only. */
const FAKES = new URL('../test/fakes/', import.meta.url).pathname;

function argvFor(args: string): string[] {
  const r = validateScanRequest({ target: '127.0.0.1', args });
  if (!r.ok) throw new Error(r.error.message);
  return r.argv;
}

/** Running, that is: a zombie (killed, not yet reaped; this sandbox's PID 1 reaps no orphans) is gone. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX] /.test(stat);
  } catch {
    return false;
  }
}

function run(argv: string[], extra: Partial<ExecuteOptions> = {}) {
  const chunks: Array<{ stream: string; data: string; at: number }> = [];
  const progress: number[] = [];
  const pids: number[] = [];
  const done = execute({
    argv,
    timeoutSec: 60,
    caps: { stdout: 1 << 20, stderr: 1 << 18 },
    nmapPath: 'nmap',
    onOutput: (stream, data) => chunks.push({ stream, data, at: Date.now() }),
    onProgress: (p) => progress.push(p.percent),
    onSpawn: (pid) => pids.push(pid),
    ...extra,
  });
  return { done, chunks, progress, pids, text: () => chunks.map((c) => c.data).join('') };
}

const banner = useBannerServer();

describe.concurrent('executor (real nmap, loopback)', () => {
  it('reports a port the test opened as open, with its service, in output and report', async () => {
    const scan = run(argvFor(`-sT -sV -p ${banner.port()}`));
    const result = await scan.done;
    expect(result.error).toBeNull();
    expect(result.exitCode).toBe(0);
    expect(scan.text()).toMatch(new RegExp(`${banner.port()}/tcp\\s+open`));
    const found = result.report?.hosts[0]?.ports.find((p) => p.port === banner.port());
    expect(found?.state).toBe('open');
    expect(found?.service).toMatchObject({ name: 'ssh', product: 'OpenSSH', version: '9.2p1 Debian 2+deb12u3' });
    expect(result.report?.scanner.args).toContain('-oX');
    expect(result.truncated).toEqual({ stdout: false, stderr: false });
  });

  it('reports progress from nmap stats lines while the scan runs', async () => {
    const scan = run(argvFor('-sT -p 1-15000 --max-rate 5000'), { statsEvery: '1s' });
    const result = await scan.done;
    expect(result.exitCode).toBe(0);
    expect(scan.progress.length).toBeGreaterThan(0);
    expect(scan.progress.every((p) => p >= 0 && p <= 100)).toBe(true);
    // Output arrived in pieces while nmap ran, not all at the end.
    expect(new Set(scan.chunks.map((c) => c.at)).size).toBeGreaterThan(1);
  });

  it('times out, kills nmap and its whole group, and says so', async () => {
    const scan = run(argvFor('-sT -p- --max-rate 50'), { timeoutSec: 2 });
    const result = await scan.done;
    expect(result.timedOut).toBe(true);
    expect(result.cancelled).toBe(false);
    expect(result.durationMs).toBeLessThan(2000 + KILL_AFTER_MS);
    expect(alive(scan.pids[0]!)).toBe(false);
  });

  it('cancels on abort', async () => {
    const controller = new AbortController();
    const scan = run(argvFor('-sT -p- --max-rate 50'), { signal: controller.signal });
    setTimeout(() => controller.abort(), 500);
    const result = await scan.done;
    expect(result.cancelled).toBe(true);
    expect(result.timedOut).toBe(false);
    expect(alive(scan.pids[0]!)).toBe(false);
  });

  it('escalates to SIGKILL for a process that ignores SIGTERM, and leaves no child behind', async () => {
    const scan = run(argvFor('-sT -p 1'), { nmapPath: `${FAKES}nmap-ignores-sigterm.sh`, timeoutSec: 1 });
    const result = await scan.done;
    expect(result.timedOut).toBe(true);
    expect(result.signal).toBe('SIGKILL');
    expect(result.durationMs).toBeGreaterThanOrEqual(1000 + KILL_AFTER_MS - 100);
    const child = Number(/child (\d+)/.exec(scan.text())?.[1]);
    expect(child).toBeGreaterThan(0);
    expect(alive(child)).toBe(false);
    expect(alive(scan.pids[0]!)).toBe(false);
  }, 20_000);

  it('caps output, flags the truncation and still finishes the scan', async () => {
    const scan = run(argvFor(`-sT -p ${banner.port()} -vv --reason`), { caps: { stdout: 200, stderr: 1 << 18 } });
    const result = await scan.done;
    expect(result.exitCode).toBe(0);
    expect(result.truncated.stdout).toBe(true);
    expect(
      Buffer.byteLength(
        scan.chunks
          .filter((c) => c.stream === 'stdout')
          .map((c) => c.data)
          .join(''),
      ),
    ).toBeLessThanOrEqual(200);
    expect(result.report?.hosts[0]?.ports[0]?.state).toBe('open');
  });

  it('turns a missing nmap into an execution_error', async () => {
    const result = await run(argvFor('-sT -p 1'), { nmapPath: '/nonexistent/nmap' }).done;
    expect(result.error?.type).toBe('execution_error');
    expect(result.error?.message).toMatch(/could not be started/);
    const noPrlimit = await run(argvFor('-sT -p 1'), { prlimitPath: '/nonexistent/prlimit' }).done;
    expect(noPrlimit.error?.message).toMatch(/could not be started: spawn \/nonexistent\/prlimit ENOENT/);
  });

  it('passes a failing nmap through as its exit code (fake nmap that exits 1)', async () => {
    const scan = run(argvFor('-sT -p 1'), { nmapPath: `${FAKES}nmap-exit-1.sh` });
    const result = await scan.done;
    expect(result.exitCode).toBe(1);
    expect(result.report).toBeNull();
    expect(scan.text()).toContain('simulated failure');
  });

  it('puts names the runner resolved back on the scanned hosts', async () => {
    const result = await run(argvFor(`-sT -p ${banner.port()} -n`), {
      resolved: new Map([['127.0.0.1', 'web.lab.internal']]),
    }).done;
    expect(result.report?.hosts[0]?.hostnames[0]).toEqual({ name: 'web.lab.internal', type: 'user' });
  });
});
