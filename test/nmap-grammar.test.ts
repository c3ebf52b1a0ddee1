import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { OPTIONS, resolvePolicy, validateScanRequest, type OptionSpec } from '../shared/policy/index.ts';

/**
 * The grammar checked against the real nmap (loopback only): every option in its canonical argv is accepted
 * by nmap when privileged, and `needsPrivilege` is never under-reported: whatever nmap refuses to run
 * without root is flagged. Evasion options are flagged by choice (they only shape raw packets), so an
 * unprivileged nmap may run them without effect.
 */
const run = promisify(execFile);
const open = resolvePolicy({ allowIntrusive: true, allowEvasion: true });
if (!open.ok) throw new Error('policy');
const isRoot = process.getuid?.() === 0;

const SAMPLE: Record<string, string> = {
  '-p': '1',
  '--top-ports': '5',
  '--min-rate': '100',
  '--max-rate': '1000',
  '--max-retries': '1',
  '--max-parallelism': '5',
  '--min-parallelism': '1',
  '--host-timeout': '30s',
  '--scan-delay': '0ms',
  '--max-scan-delay': '10ms',
  '--script-timeout': '10s',
  '--version-intensity': '1',
  '--script': 'http-title',
  '--script-args': 'http.useragent=scangate',
  '--mtu': '16',
  '-D': '127.0.0.2,ME',
  '-g': '40000',
  '--data-length': '10',
  '--ttl': '64',
  '--spoof-mac': '0',
};

function requestFor(spec: OptionSpec) {
  const args =
    spec.attached === 'only'
      ? [`${spec.name}1`]
      : spec.value || SAMPLE[spec.name]
        ? [spec.name, SAMPLE[spec.name]!]
        : [spec.name];
  // Script arguments are checked against the scripts they are for.
  if (spec.name === '--script-args') args.push('--script', 'http-title');
  if (!spec.selectsPorts && spec.name !== '-sn') args.push('-p', '1');
  // Paranoid and sneaky timing wait minutes between probes; a later --scan-delay overrides theirs.
  if (spec.name === '-T0' || spec.name === '-T1') args.push('--scan-delay', '1ms', '--max-scan-delay', '1ms');
  return { target: spec.name === '-6' ? '::1' : '127.0.0.1', args };
}

async function nmap(argv: string[], unprivileged: boolean): Promise<{ code: number; output: string }> {
  const [cmd, prefix] =
    unprivileged && isRoot
      ? ['setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', 'nmap']]
      : ['nmap', []];
  try {
    const { stdout, stderr } = await run(cmd, [...prefix, ...argv], { timeout: 60_000 });
    return { code: 0, output: stdout + stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : -1, output: `${err.stdout ?? ''}${err.stderr ?? ''}` };
  }
}

describe.concurrent('the option grammar against nmap 7.x on loopback', () => {
  it.each(OPTIONS.map((spec) => [spec.name, spec] as const))('%s', async (_name, spec) => {
    const v = validateScanRequest(requestFor(spec), open.policy);
    if (!v.ok) throw new Error(v.error.message);
    expect(v.argv.slice(v.argv.indexOf('--') + 1)).toEqual([spec.name === '-6' ? '::1' : '127.0.0.1']);

    const unprivileged = await nmap(v.argv, true);
    if (unprivileged.code !== 0 || /QUITTING|requires root|has to be run as root/.test(unprivileged.output)) {
      expect(v.needsPrivilege, `nmap needs root for ${v.argv.join(' ')}: ${unprivileged.output}`).toBe(true);
    } else if (spec.gate !== 'evasion') {
      expect(v.needsPrivilege, `nmap ran ${v.argv.join(' ')} without root`).toBe(
        spec.name === '-PE' || spec.name === '-PP' || spec.name === '-PM',
      );
    }

    if (isRoot) {
      const privileged = await nmap(v.argv, false);
      expect(privileged.output).not.toMatch(/QUITTING|did not match a category|Unrecognized|Bogus|illegal/i);
      expect(privileged.code, privileged.output).toBe(0);
    }
  });
});
