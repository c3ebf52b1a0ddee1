import { execFile, execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { parseEnvFile } from '../../runner/config.ts';
import { Proc, ROOT } from '../../scripts/stack.ts';
import { useStack } from '../helpers/e2e.ts';

/**
 * `scangate-runner install` end to end, as far as this machine allows: the built runner installs itself with an
 * enrollment code from the real edge into a staged root (`--root`: nothing under /etc is touched), and the unit it
 * wrote is then run as systemd would (there is no systemd as PID 1 here): its EnvironmentFile read, its ExecStart
 * run as the user it names (setpriv), which connects to the edge. Install twice is safe; uninstall undoes it.
 */
const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('runner-install: skipped: install creates a user and chowns files, so it needs root');
const stack = useStack();
const run = promisify(execFile);

// Everything the service user must reach lives in a 0755 dir: root's home and mktemp dirs are closed to it.
const dir = mkdtempSync(join(tmpdir(), 'scangate-install-'));
chmodSync(dir, 0o755);
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const bundle = join(dir, 'scangate-runner.mjs');
const node = join(dir, 'node');

function seededRoot(name: string): string {
  const root = join(dir, name);
  mkdirSync(join(root, 'etc'), { recursive: true, mode: 0o755 });
  chmodSync(root, 0o755);
  writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/bash\n');
  writeFileSync(join(root, 'etc/group'), 'root:x:0:\n');
  writeFileSync(join(root, 'etc/shadow'), 'root:*:19000:0:99999:7:::\n', { mode: 0o600 });
  writeFileSync(join(root, 'etc/gshadow'), 'root:*::\n', { mode: 0o600 });
  return root;
}

function idsOf(root: string, user: string): { uid: number; gid: number } | undefined {
  const line = readFileSync(join(root, 'etc/passwd'), 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${user}:`));
  return line ? { uid: Number(line.split(':')[2]), gid: Number(line.split(':')[3]) } : undefined;
}

async function runner(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(node, [bundle, ...args], { encoding: 'utf8', timeout: 120_000 }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
}

async function enrollmentFor(name: string, networks = ['127.0.0.1/32']): Promise<string> {
  const res = await stack.api(stack.admin, 'POST', '/v1/runners', { name, networks, enroll: true });
  expect(res.status).toBe(201);
  return res.body.enrollment.code;
}

/** The unit's `Key=value` lines (the last one of each key wins, as for these keys in systemd). */
function unitKeys(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .split('\n')
      .filter((l) => /^[A-Za-z]+=/.test(l))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

const hasAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;
if (isRoot && !hasAnalyze)
  console.warn(
    'runner-install: the systemd-analyze verify test is skipped: systemd-analyze is not installed (apt-get install systemd)',
  );

describe.runIf(isRoot)('scangate-runner install / uninstall (staged root, real edge)', () => {
  const root = join(dir, 'host');
  let token = '';
  let service: Proc | undefined;

  it('installs with an enrollment code: user, 0640 token and env, unit, doctor; no systemctl; token never printed', async () => {
    execFileSync(process.execPath, [join(ROOT, 'scripts/build-runner.ts'), bundle], { cwd: ROOT, stdio: 'pipe' });
    copyFileSync(process.execPath, node);
    chmodSync(node, 0o755);
    seededRoot('host');
    const code = await enrollmentFor('installed-runner');

    const out = await runner([
      'install',
      '--root',
      root,
      '--server',
      stack.wsUrl,
      '--enroll',
      code,
      '--network',
      '127.0.0.1/32',
    ]);
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    const ids = idsOf(root, 'scangate')!;
    expect(ids).toBeDefined();
    expect(out.stdout).toContain(`created system user scangate (uid ${ids.uid})`);
    expect(out.stdout).toContain(
      `enrolled as runner "installed-runner": token written to ${root}/etc/scangate/runner.token (0640 root:scangate)`,
    );
    expect(out.stdout).toMatch(/^token\s+ok/m);
    expect(out.stdout).toMatch(/^server\s+ok\s+.*token accepted: runner installed-runner/m);
    expect(out.stdout).toContain(`staged under ${root}: the service was not enabled`);

    token = readFileSync(join(root, 'etc/scangate/runner.token'), 'utf8').trim();
    expect(token).toMatch(/^sgr_[0-9a-f][A-Za-z0-9_-]{43}$/);
    expect(out.stdout).not.toContain(token);
    for (const [file, mode] of [
      ['etc/scangate/runner.token', 0o640],
      ['etc/scangate/runner.env', 0o640],
      ['etc/scangate', 0o750],
      ['etc/systemd/system/scangate-runner.service', 0o644],
      ['opt/scangate/scangate-runner.mjs', 0o755],
    ] as const) {
      const st = statSync(join(root, file));
      expect([file, st.mode & 0o777, st.uid]).toEqual([file, mode, 0]);
      if (file.startsWith('etc/scangate')) expect([file, st.gid]).toEqual([file, ids.gid]);
    }
    // The code is spent.
    const again = await stack.api(undefined, 'POST', '/v1/runners/enroll', { code });
    expect(again.status).toBe(401);
  });

  it('the CLI mints a runner with --enroll: it prints the install command, never a token', async () => {
    const cli = await run(
      process.execPath,
      [
        join(ROOT, 'scripts/scangate.ts'),
        'tokens',
        'create',
        '--role',
        'runner',
        '--name',
        'cli-enrolled',
        '--network',
        '127.0.0.1/32',
        '--enroll',
        '--url',
        stack.url,
        '--token',
        stack.admin,
      ],
      { encoding: 'utf8' },
    );
    expect(cli.stdout).toMatch(
      new RegExp(
        `^curl -fsSL ${stack.url}/install/runner\\.sh \\| sudo sh -s -- --server ${stack.wsUrl} --enroll sge_\\S+ --network 127\\.0\\.0\\.1/32$`,
        'm',
      ),
    );
    expect(cli.stdout).not.toContain('sgr_');
  });

  it.runIf(hasAnalyze)('wrote a unit that passes systemd-analyze verify', () => {
    const unit = join(root, 'etc/systemd/system/scangate-runner.service');
    // systemd resolves User= at start, not at verify; the rest (paths, directives) is checked against this host.
    const result = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' });
    expect(`${result.stdout}${result.stderr}`).toBe('');
    expect(result.status).toBe(0);
  });

  it("runs the unit's ExecStart as the user it names, with its EnvironmentFile: the installed runner connects", async () => {
    const unit = unitKeys(readFileSync(join(root, 'etc/systemd/system/scangate-runner.service'), 'utf8'));
    expect(unit.User).toBe('scangate');
    const ids = idsOf(root, unit.User!)!;
    const env = parseEnvFile(readFileSync(unit.EnvironmentFile!, 'utf8'));
    const argv = unit.ExecStart!.split(' ');
    expect(argv.slice(1)).toEqual(['--max-semi-space-size=1', join(root, 'opt/scangate/scangate-runner.mjs'), 'run']);
    service = new Proc('setpriv', [`--reuid=${ids.uid}`, `--regid=${ids.gid}`, '--clear-groups', '--', ...argv], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
    });
    stack.procs.add(service);
    await service.waitFor(/"event":"link\.ready"/, 30_000);
    expect(readFileSync(`/proc/${service.pid}/status`, 'utf8')).toMatch(new RegExp(`^Uid:\\s+${ids.uid}\\s`, 'm'));
    const runners = (await stack.api(stack.admin, 'GET', '/v1/runners')).body.runners;
    expect(runners.find((r: { name: string }) => r.name === 'installed-runner')).toMatchObject({ online: true });
  });

  it('installs again safely: keeps the token (spends no code), leaves the live runner connected', async () => {
    const out = await runner([
      'install',
      '--root',
      root,
      '--server',
      stack.wsUrl,
      '--enroll',
      'sge_0spentspentspentspentspen',
      '--network',
      '127.0.0.1/32',
    ]);
    expect(out.code).toBe(0);
    expect(out.stdout).toContain('kept the runner token');
    expect(out.stdout).toContain('system user scangate exists');
    for (const what of ['scangate-runner.mjs', 'runner.env', 'scangate-runner.service'])
      expect(out.stdout).toMatch(new RegExp(`${what.replace('.', '\\.')} is up to date`));
    expect(readFileSync(join(root, 'etc/scangate/runner.token'), 'utf8').trim()).toBe(token);
    expect(service?.running).toBe(true);
  });

  it('replaces a token the edge refuses (its runner was revoked) when given a new code', async () => {
    const runners = (await stack.api(stack.admin, 'GET', '/v1/runners')).body.runners;
    const id = runners.find((r: { name: string }) => r.name === 'installed-runner').id;
    expect((await stack.api(stack.admin, 'DELETE', `/v1/runners/${id}`)).status).toBe(200);
    expect((await service!.exited).code).toBe(3); // the revoked runner stops and says why
    const code = await enrollmentFor('installed-runner-2');
    const out = await runner([
      'install',
      '--root',
      root,
      '--server',
      stack.wsUrl,
      '--enroll',
      code,
      '--network',
      '127.0.0.1/32',
    ]);
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    expect(out.stdout).toContain('the edge refuses the runner token');
    expect(out.stdout).toContain('enrolled as runner "installed-runner-2"');
    const replaced = readFileSync(join(root, 'etc/scangate/runner.token'), 'utf8').trim();
    expect(replaced).not.toBe(token);
    expect((await stack.api(replaced, 'GET', '/v1/runners/self')).status).toBe(200);
  });

  it('uninstall removes what install made, and a second uninstall finds nothing to do', async () => {
    await service?.stop('SIGTERM', 10_000);
    const out = await runner(['uninstall', '--root', root]);
    expect(out.code).toBe(0);
    expect(out.stdout).toContain('removed system user scangate');
    for (const path of ['etc/scangate', 'opt/scangate', 'etc/systemd/system/scangate-runner.service'])
      expect([path, existsSync(join(root, path))]).toEqual([path, false]);
    expect(idsOf(root, 'scangate')).toBeUndefined();
    const again = await runner(['uninstall', '--root', root]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('system user scangate: already gone');
  });

  it("a refused code stops the install with the edge's reason (exit 3) and writes no token", async () => {
    const other = seededRoot('refused');
    const out = await runner([
      'install',
      '--root',
      other,
      '--server',
      stack.wsUrl,
      '--enroll',
      'sge_0neverissuedneverissued0',
      '--network',
      '127.0.0.1/32',
    ]);
    expect(out.code).toBe(3);
    expect(out.stderr).toMatch(
      /^scangate-runner install: the edge refused the enrollment code: No such enrollment code/,
    );
    expect(existsSync(join(other, 'etc/scangate/runner.token'))).toBe(false);
  });
});
