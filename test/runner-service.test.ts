import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const UNIT = readFileSync(new URL('../runner/scangate-runner.service', import.meta.url).pathname, 'utf8');

function hasSystemdAnalyze(): boolean {
  try {
    execFileSync('systemd-analyze', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const canVerify = hasSystemdAnalyze();
if (!canVerify)
  console.warn(
    'runner-service: the systemd-analyze verify test is skipped: systemd-analyze is not installed (apt-get install systemd)',
  );

describe('runner/scangate-runner.service', () => {
  it('is hardened and grants no capability unless the admin opts in', () => {
    for (const line of [
      'NoNewPrivileges=yes',
      'ProtectSystem=strict',
      'PrivateTmp=yes',
      'Restart=on-failure',
      'RestartPreventExitStatus=2 3 4',
      'CapabilityBoundingSet=',
      'AmbientCapabilities=',
      'User=scangate',
    ]) {
      expect(UNIT.split('\n')).toContain(line);
    }
    expect(UNIT).toMatch(/^#AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN$/m);
  });

  // systemd-analyze ships with systemd; a machine without it cannot check unit syntax, so this only runs where it can
  // and says so otherwise (`command -v systemd-analyze` tells; `apt-get install systemd` provides it).
  it.runIf(canVerify)('passes systemd-analyze verify', () => {
    const dir = mkdtempSync(join(tmpdir(), 'scangate-unit-'));
    // The same unit with what this machine lacks stood in: no scangate user, no installed bundle, no env file.
    const unit = UNIT.replace(/^User=scangate$/m, 'User=root')
      .replace(/^Group=scangate$/m, 'Group=root')
      .replace(/^EnvironmentFile=.*$/m, 'EnvironmentFile=-/etc/scangate/runner.env')
      .replace(/^ExecStart=.*$/m, 'ExecStart=/bin/true');
    const path = join(dir, 'scangate-runner.service');
    writeFileSync(path, unit);
    const output = execFileSync('systemd-analyze', ['verify', path], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    expect(output).toBe('');
  });
});
