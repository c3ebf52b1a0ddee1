import { describe, expect, it } from 'vitest';
import { resolvePolicy, validateScanRequest } from '../shared/policy/index.ts';
import type { JobDispatch } from '../shared/protocol/index.ts';
import { guardDispatch, type GuardContext, type Resolver } from './guard.ts';
import { readLocalScripts } from './nmap-scripts.ts';
import { nmapVersion } from './system.ts';

const openPolicy = (() => {
  const r = resolvePolicy({ allowIntrusive: true, allowEvasion: true });
  if (!r.ok) throw new Error('policy');
  return r.policy;
})();

function dispatch(argv: string[], policy: Partial<JobDispatch['policy']> = {}): JobDispatch {
  return {
    type: 'job.dispatch',
    jobId: 'job_1',
    argv,
    timeoutSec: 60,
    policy: {
      allowedHostSuffixes: ['.lab.internal'],
      allowIntrusive: false,
      allowEvasion: false,
      maxHosts: 1024,
      maxTargets: 16,
      maxPortRanges: 100,
      ...policy,
    },
    limits: { stdoutMaxBytes: 1 << 20, stderrMaxBytes: 1 << 18 },
  };
}

function canonical(request: { target: string | string[]; args?: string }, open = false): string[] {
  const r = validateScanRequest(request, open ? openPolicy : undefined);
  if (!r.ok) throw new Error(r.error.message);
  return r.argv;
}

const dns: Record<string, string[]> = {
  'web.lab.internal': ['127.0.0.5', '::1'],
  'v6only.lab.internal': ['::1'],
  'split.lab.internal': ['127.0.0.6', '10.9.9.9'],
};
const resolver: Resolver = async (name) => {
  const found = dns[name];
  if (!found) throw Object.assign(new Error(`queryA ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
  return found;
};
const scripts = await readLocalScripts('nmap', (await nmapVersion('nmap')) ?? null);
const ctx: GuardContext = {
  networks: ['127.0.0.0/8', '::1/128'],
  privileged: false,
  allowIntrusive: false,
  allowEvasion: false,
  resolve: resolver,
  scripts,
};

describe('guardDispatch', () => {
  it('passes a canonical in-network dispatch unchanged', async () => {
    const argv = canonical({ target: '127.0.0.1', args: '-sT -p 22' });
    const r = await guardDispatch(dispatch(argv), ctx);
    expect(r.ok && r.argv).toEqual(argv);
  });

  it("refuses a target outside this runner's networks, naming them", async () => {
    const r = await guardDispatch(dispatch(canonical({ target: '10.0.0.5' })), ctx);
    expect(!r.ok && r.error.message).toMatch(/10\.0\.0\.5.*this runner's networks/);
    expect(!r.ok && r.error.recoverySuggestion).toContain('127.0.0.0/8');
  });

  it.each([
    ['a public target', ['-T4', '--', '8.8.8.8']],
    ['a forbidden option', ['-iL', '/etc/passwd', ...canonical({ target: '127.0.0.1' })]],
    ['an extra target before --', [...canonical({ target: '127.0.0.1' }).slice(0, -2), '127.0.0.2', '--', '127.0.0.1']],
    ['a non-canonical argv', ['-p', '22', '--', '127.0.0.1']],
    ['an output option', ['-oN', '/tmp/x', ...canonical({ target: '127.0.0.1' })]],
  ])('refuses a forged dispatch: %s', async (_name, argv) => {
    const r = await guardDispatch(dispatch(argv), ctx);
    expect(r.ok).toBe(false);
  });

  it("needs the lab admin's consent too for intrusive scans the edge allowed", async () => {
    const argv = canonical({ target: '127.0.0.1', args: '--script vuln' }, true);
    const refused = await guardDispatch(dispatch(argv, { allowIntrusive: true }), ctx);
    expect(!refused.ok && refused.error.recoverySuggestion).toMatch(/--allow-intrusive/);
    const consented = await guardDispatch(dispatch(argv, { allowIntrusive: true }), { ...ctx, allowIntrusive: true });
    expect(consented.ok).toBe(true);
    const edgeSaysNo = await guardDispatch(dispatch(argv), { ...ctx, allowIntrusive: true });
    expect(edgeSaysNo.ok).toBe(false);
  });

  it('refuses raw-socket scans on an unprivileged runner', async () => {
    const argv = canonical({ target: '127.0.0.1', args: '-sS -p 22' });
    const r = await guardDispatch(dispatch(argv), ctx);
    expect(!r.ok && r.error.message).toMatch(/raw sockets/);
    expect((await guardDispatch(dispatch(argv), { ...ctx, privileged: true })).ok).toBe(true);
  });

  it('resolves a hostname here and runs nmap on the literal with -n', async () => {
    const argv = canonical({ target: ['web.lab.internal', '127.0.0.1'], args: '-sT -p 22' });
    const r = await guardDispatch(dispatch(argv), { ...ctx });
    expect(r.ok && r.argv.slice(-3)).toEqual(['--', '127.0.0.5', '127.0.0.1']);
    // The canonical argv itself carries -n, so nmap resolves nothing, forward or reverse.
    expect(argv).toContain('-n');
    expect(r.ok && [...r.resolved]).toEqual([['127.0.0.5', 'web.lab.internal']]);
  });

  it("picks the address of the scan's family", async () => {
    const argv = canonical({ target: ['web.lab.internal', '::1'], args: '-sT -p 22' });
    const r = await guardDispatch(dispatch(argv), ctx);
    expect(r.ok && r.argv.slice(-3)).toEqual(['--', '::1', '::1']);
    const none = await guardDispatch(dispatch(canonical({ target: 'v6only.lab.internal' })), ctx);
    expect(!none.ok && none.error.message).toMatch(/no IPv4 address/);
  });

  it('refuses a name with any address outside the networks, and a name that does not resolve', async () => {
    const split = await guardDispatch(dispatch(canonical({ target: 'split.lab.internal' })), ctx);
    expect(!split.ok && split.error.message).toMatch(/resolves to 10\.9\.9\.9, which is outside/);
    const missing = await guardDispatch(dispatch(canonical({ target: 'nope.lab.internal' })), ctx);
    expect(!missing.ok && missing.error.message).toMatch(/does not resolve.*ENOTFOUND/);
  });
});
