import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderUnit, SERVICE_UNIT } from './unit.ts';

const SHIPPED = readFileSync(new URL('./scangate-runner.service', import.meta.url).pathname, 'utf8');

describe('the unit install writes (runner/unit.ts)', () => {
  it('is runner/scangate-runner.service, byte for byte (edit both together)', () => {
    expect(SERVICE_UNIT).toBe(SHIPPED);
  });

  it('fills in the user, env file and command, and keeps every hardening line', () => {
    const unit = renderUnit({
      user: 'labrunner',
      environmentFile: '/srv/x/runner.env',
      execStart: '/srv/x/scangate-runner run',
      rawScans: false,
    });
    const lines = unit.split('\n');
    for (const l of [
      'User=labrunner',
      'Group=labrunner',
      'EnvironmentFile=/srv/x/runner.env',
      'ExecStart=/srv/x/scangate-runner run',
    ])
      expect(lines).toContain(l);
    const keep = (text: string) => text.split('\n').filter((l) => !/^(User|Group|EnvironmentFile|ExecStart)=/.test(l));
    expect(keep(unit)).toEqual(keep(SHIPPED));
    expect(lines).toContain('CapabilityBoundingSet=');
  });

  it('grants raw-socket capabilities only with rawScans, in place of the empty sets', () => {
    const unit = renderUnit({ user: 'scangate', environmentFile: '/e', execStart: '/x run', rawScans: true });
    const lines = unit.split('\n');
    expect(lines).toContain('CapabilityBoundingSet=CAP_NET_RAW CAP_NET_ADMIN');
    expect(lines).toContain('AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN');
    expect(lines).not.toContain('CapabilityBoundingSet=');
    expect(lines).not.toContain('AmbientCapabilities=');
    expect(lines).toContain('NoNewPrivileges=yes');
  });
});
