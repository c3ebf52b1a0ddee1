import { describe, expect, it } from 'vitest';
import { DEFAULT_POLICY, describeClamp, resolvePolicy } from './index.ts';

describe('resolvePolicy', () => {
  it('gives the defaults of DESIGN for an empty input', () => {
    const r = resolvePolicy({});
    expect(r.ok && r.policy).toEqual(DEFAULT_POLICY);
    expect(r.ok && r.clamps).toEqual([]);
  });

  it('clamps every number into its range and reports each clamp', () => {
    const r = resolvePolicy({
      maxHosts: 1_000_000,
      maxTargets: 0,
      defaultTimeoutSec: 5,
      breaker: { failureThreshold: 50, recoveryTimeoutSec: 1 },
      output: { stdoutMaxBytes: 1 },
    });
    if (!r.ok) throw new Error(r.error.message);
    expect(r.policy.maxHosts).toBe(65536);
    expect(r.policy.maxTargets).toBe(1);
    expect(r.policy.defaultTimeoutSec).toBe(60);
    expect(r.policy.breaker.failureThreshold).toBe(10);
    expect(r.policy.breaker.recoveryTimeoutSec).toBe(30);
    expect(r.policy.output.stdoutMaxBytes).toBe(64 * 1024);
    expect(r.clamps.map((c) => c.key).sort()).toEqual(
      [
        'breaker.failureThreshold',
        'breaker.recoveryTimeoutSec',
        'defaultTimeoutSec',
        'maxHosts',
        'maxTargets',
        'output.stdoutMaxBytes',
      ].sort(),
    );
    expect(describeClamp(r.clamps.find((c) => c.key === 'maxHosts')!)).toBe(
      'maxHosts 1000000 is outside 1–65536; using 65536',
    );
  });

  it('keeps the recovery cap at or above the first recovery wait', () => {
    const r = resolvePolicy({ breaker: { recoveryTimeoutSec: 300, maxRecoveryTimeoutSec: 100 } });
    expect(r.ok && r.policy.breaker.maxRecoveryTimeoutSec).toBe(300);
    expect(r.ok && r.clamps[0]?.key).toBe('breaker.maxRecoveryTimeoutSec');
  });

  it('keeps values inside their range without a report', () => {
    const r = resolvePolicy({ maxHosts: 65536, breaker: { failureThreshold: 1 } });
    expect(r.ok && r.clamps).toEqual([]);
  });

  it('lays a partial policy over a base, deep for the nested groups', () => {
    const base = resolvePolicy({ allowIntrusive: true, breaker: { failureThreshold: 3 } });
    if (!base.ok) throw new Error('base');
    const r = resolvePolicy({ breaker: { recoveryTimeoutSec: 60 } }, base.policy);
    expect(r.ok && r.policy.allowIntrusive).toBe(true);
    expect(r.ok && r.policy.breaker).toEqual({
      failureThreshold: 3,
      recoveryTimeoutSec: 60,
      maxRecoveryTimeoutSec: 600,
    });
  });

  it('canonicalises networks and suffixes', () => {
    const r = resolvePolicy({
      allowedNetworks: ['FD00:0::/8', '10.0.0.0/8', '10.0.0.0/8'],
      allowedHostSuffixes: ['Lab.Example.'],
    });
    expect(r.ok && r.policy.allowedNetworks).toEqual(['fd00::/8', '10.0.0.0/8']);
    expect(r.ok && r.policy.allowedHostSuffixes).toEqual(['.lab.example']);
  });

  it.each([
    [{ maxHosts: '1024' }, /maxHosts/],
    [{ maxHosts: 10.5 }, /maxHosts/],
    [{ maxHosts: Number.NaN }, /maxHosts/],
    [{ allowIntrusive: 'yes' }, /allowIntrusive/],
    [{ allowIntrusiv: true }, /Unrecognized|unrecognized/],
    [{ breaker: { threshold: 3 } }, /breaker/],
    [{ allowedNetworks: ['10.0.0.1/8'] }, /host bits/],
    [{ allowedNetworks: ['10.0.0.0'] }, /missing \/prefix/],
    [{ allowedNetworks: ['127.1/8'] }, /address/],
    [{ allowedNetworks: [] }, /allowedNetworks/],
    [{ allowedHostSuffixes: ['internal'] }, /at least two labels/],
    [{ allowedHostSuffixes: ['*.lab.internal'] }, /suffix/],
    [[], /policy/],
    ['strict', /policy/],
  ])('refuses %j', (input, problem) => {
    const r = resolvePolicy(input);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.type).toBe('validation_error');
      expect(`${r.error.message} ${JSON.stringify(r.error.details)}`).toMatch(problem);
    }
  });
});
