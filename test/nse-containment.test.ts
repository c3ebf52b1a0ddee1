import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it, type TestContext } from 'vitest';
import { readLocalScripts } from '../runner/nmap-scripts.ts';
import { CATALOG, classAllowed, resolvePolicy, validateScanRequest, type Policy } from '../shared/policy/index.ts';

/**
 * Containment, proven with the real nmap: a page on 127.0.0.1 links to, embeds and redirects to a tripwire on
 * 127.0.0.2 (same port), and every system DNS lookup goes to the tripwire too. nmap runs every script the
 * policy allows against 127.0.0.1 only, and the tripwire must hear nothing. Everything runs in a network
 * namespace this test makes (loopback only), so nothing can leave the machine even if a script tried.
 * A control run of scripts the catalog refuses shows the bait works. Needs root (ip netns).
 */
const run = promisify(execFile);
const isRoot = process.getuid?.() === 0;
/** Network namespaces need root and iproute2's `ip` (.ci/run installs it); without them this file says so and skips. */
const canNamespace = isRoot && spawnSync('ip', ['netns', 'list']).status === 0;
if (!canNamespace)
  console.warn(
    `nse-containment: skipped (${isRoot ? "iproute2's ip netns is not available" : 'needs root for a network namespace'})`,
  );
const PORT = 8080;
const bait = join(dirname(fileURLToPath(import.meta.url)), 'helpers', 'nse-bait.ts');

function policy(allowIntrusive: boolean): Policy {
  const r = resolvePolicy({ allowIntrusive });
  if (!r.ok) throw new Error(r.error.message);
  return r.policy;
}

/**
 * A network namespace of its own (loopback only) with the bait in it, for one test: each test has its own tripwire
 * and its own hits, so the three nmap runs go at once (they spend most of their time in script timeouts) and no
 * run can hear another's traffic.
 */
interface Sandbox {
  /** Every connection, datagram and lookup the tripwire heard. */
  hits: Array<Record<string, unknown>>;
  /** Runs nmap in the namespace with the given argv (options, `--`, targets); resolves with its exit code. */
  nmap(argv: string[]): Promise<{ code: number; output: string }>;
}

let sandboxes = 0;

async function sandbox(onTestFinished: TestContext['onTestFinished']): Promise<Sandbox> {
  const ns = `scangate-nse-${process.pid}-${++sandboxes}`;
  const hits: Array<Record<string, unknown>> = [];
  let baitProcess: ChildProcess | undefined;
  onTestFinished(async () => {
    baitProcess?.kill('SIGTERM');
    await run('ip', ['netns', 'del', ns]).catch(() => {});
    rmSync(`/etc/netns/${ns}`, { recursive: true, force: true });
  });
  await run('ip', ['netns', 'add', ns]);
  await run('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);
  // `ip netns exec` bind-mounts /etc/netns/<ns>/resolv.conf: every system lookup in the namespace hits the tripwire.
  mkdirSync(`/etc/netns/${ns}`, { recursive: true });
  writeFileSync(`/etc/netns/${ns}/resolv.conf`, 'nameserver 127.0.0.2\noptions timeout:1 attempts:1\n');
  baitProcess = spawn('ip', ['netns', 'exec', ns, process.execPath, bait, String(PORT)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: baitProcess.stdout! });
  await new Promise<void>((resolve, reject) => {
    baitProcess!.once('exit', (code) => reject(new Error(`bait exited with ${code}`)));
    lines.on('line', (line) => {
      const message = JSON.parse(line) as { ready?: boolean; hit?: Record<string, unknown> };
      if (message.ready) resolve();
      if (message.hit) hits.push(message.hit);
    });
  });
  return {
    hits,
    async nmap(argv) {
      try {
        const { stdout, stderr } = await run('ip', ['netns', 'exec', ns, 'nmap', ...argv], {
          maxBuffer: 64 * 1024 * 1024,
          timeout: 280_000,
        });
        return { code: 0, output: stdout + stderr };
      } catch (e) {
        const err = e as { code?: number; stdout?: string; stderr?: string };
        return {
          code: typeof err.code === 'number' ? err.code : -1,
          output: `${err.stdout ?? ''}${err.stderr ?? ''}`,
        };
      }
    },
  };
}

describe.skipIf(!canNamespace)('NSE containment against a loopback tripwire (real nmap, own network namespace)', () => {
  it.concurrent('the bait works: scripts the catalog refuses do reach the tripwire', async ({ onTestFinished }) => {
    const { hits, nmap } = await sandbox(onTestFinished);
    for (const name of ['http-referer-checker', 'http-grep', 'http-feed'])
      expect(CATALOG.get(name)?.class).toBe('off-target');
    const result = await nmap([
      '-n',
      '-Pn',
      '-sT',
      '-p',
      String(PORT),
      '--script',
      'http-referer-checker,http-grep,http-feed',
      '--',
      '127.0.0.1',
    ]);
    expect(result.output).toMatch(/open/);
    expect(hits.length, result.output).toBeGreaterThan(0);
  }, 300_000);

  it.concurrent.for([
    ['default policy', false],
    ['intrusive policy', true],
  ] as const)(
    'under the %s, every script the edge accepts stays on the target',
    { timeout: 300_000 },
    async ([, allowIntrusive], { onTestFinished }) => {
      const { hits, nmap } = await sandbox(onTestFinished);
      // Every allowed script this nmap ships (the runner refuses the others before nmap starts).
      const local = await readLocalScripts('nmap', null);
      const allowed = [...CATALOG.values()]
        .filter((s) => classAllowed(s.class, allowIntrusive) && local?.categories.has(s.name))
        .map((s) => s.name);
      expect(allowed.length).toBeGreaterThan(allowIntrusive ? 400 : 200);
      const request = {
        target: '127.0.0.1',
        args: [
          '-sT',
          '-sV',
          '--version-light',
          '-p',
          String(PORT),
          '--script-timeout',
          '20s',
          '--script',
          allowed.join(','),
        ],
      };
      const validated = validateScanRequest(request, policy(allowIntrusive));
      if (!validated.ok) throw new Error(validated.error.message);
      expect(validated.argv).toContain('-n');

      const result = await nmap(validated.argv);
      expect(result.code, result.output).toBe(0);
      expect(result.output).toMatch(/8080\/tcp\s+open/);
      // Scripts did run against the bait (so the test is not vacuous). Which ones answer depends on how the bait
      // keeps up under the whole batch (some time out on a busy machine), so count script results, not names.
      const portSection =
        result.output
          .split(/\n8080\/tcp[^\n]*\n/)[1]
          ?.split(/\n(?:Host script results|Post-scan|Service detection)/)[0] ?? '';
      const scriptResults = new Set([...portSection.matchAll(/^\|_?\s?([a-z0-9-]+):/gm)].map((m) => m[1]));
      expect(scriptResults.size, result.output).toBeGreaterThanOrEqual(3);
      expect(
        hits,
        `tripwire on 127.0.0.2 was reached:\n${JSON.stringify(hits, null, 1)}\n${result.output.slice(0, 4000)}`,
      ).toEqual([]);
    },
  );
});
