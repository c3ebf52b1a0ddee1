import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, Proc, ROOT } from '../../scripts/stack.ts';
import { useBannerServer } from '../helpers/banner-server.ts';

/** `npm start` as a newcomer runs it: the script itself, with its state in a temp dir (SCANGATE_HOME). */
const home = mkdtempSync(join(tmpdir(), 'scangate-start-'));
const otherHome = mkdtempSync(join(tmpdir(), 'scangate-start-other-'));
const banner = useBannerServer();
const started: Proc[] = [];
afterAll(async () => {
  for (const p of started) await p.stop('SIGKILL', 1000);
  rmSync(home, { recursive: true, force: true });
  rmSync(otherHome, { recursive: true, force: true });
});

function start(env: NodeJS.ProcessEnv): Proc {
  const proc = new Proc(process.execPath, [join(ROOT, 'scripts', 'start.ts')], {
    env: { ...process.env, SCANGATE_HOME: home, ...env },
  });
  started.push(proc);
  return proc;
}

/** Processes whose command line names the temp home: wrangler, workerd and the runner of this stack. */
function leftovers(): string[] {
  try {
    return execFileSync('pgrep', ['-af', home], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

describe('npm start', () => {
  it('says in one line how to install a missing nmap, and starts nothing', async () => {
    const proc = start({ PATH: dirname(process.execPath) });
    const { code } = await proc.exited;
    expect(code).toBe(1);
    expect(proc.log.trim().split('\n')).toHaveLength(1);
    expect(proc.log).toMatch(/nmap is not installed: install it with `sudo apt-get install -y nmap`/);
  });

  it('names a port held by another program and what to do, and starts nothing', async () => {
    const holder = createServer();
    holder.listen(0, '127.0.0.1');
    await once(holder, 'listening');
    const port = (holder.address() as { port: number }).port;
    try {
      const proc = start({ SCANGATE_PORT: String(port) });
      const { code } = await proc.exited;
      expect(code).toBe(1);
      expect(proc.log.trim().split('\n')).toHaveLength(1);
      expect(proc.log).toMatch(
        new RegExp(
          `port ${port} on 127\\.0\\.0\\.1 is already in use( by \\S+ \\(pid ${process.pid}\\))?: stop that program, or start this one on another port: SCANGATE_PORT=${port + 1} npm start`,
        ),
      );
      expect(leftovers()).toEqual([]);
    } finally {
      holder.close();
    }
  });

  it('runs the whole stack, serves a scan through the CLI, stops cleanly on Ctrl-C and reuses its state', async () => {
    const port = await freePort();
    const first = start({ SCANGATE_PORT: String(port) });
    await first.waitFor(/Ctrl-C stops everything/, 60_000);
    expect(first.log).toContain(`MCP         http://127.0.0.1:${port}/mcp`);
    expect(first.log).toMatch(/curl -s -X POST/);
    // Absolute paths, and how the CLI finds them from elsewhere.
    expect(first.log).toContain(`log in with the admin token in ${join(home, '.dev.vars')}`);
    expect(first.log).toContain(`Saved to ${join(home, '.scangate', 'local.json')}`);
    expect(first.log).toContain(`export SCANGATE_HOME=${home}`);

    // A second start on the held port says what holds it before starting anything: this home's stack …
    const again = start({ SCANGATE_PORT: String(port) });
    expect((await again.exited).code).toBe(1);
    expect(again.log.trim().split('\n')).toHaveLength(1);
    expect(again.log).toMatch(
      new RegExp(
        `scangate is already running on port ${port} for ${home}.*: use it \\(URLs and tokens in ${join(home, '.scangate', 'local.json')}\\), or stop it`,
      ),
    );
    // … or another home's, whose tokens this one does not have (it used to fail with POST /v1/tokens: 401).
    const other = start({ SCANGATE_PORT: String(port), SCANGATE_HOME: otherHome });
    expect((await other.exited).code).toBe(1);
    expect(other.log.trim().split('\n')).toHaveLength(1);
    expect(other.log).toMatch(
      new RegExp(
        `port ${port} is held by another scangate.* with a different SCANGATE_HOME .*SCANGATE_PORT=${port + 1} npm start`,
      ),
    );
    expect(other.log).not.toContain('401');
    expect(first.running).toBe(true);

    // Revoking the local runner (as the dashboard does) leaves the edge up and brings a new runner.
    const admin = JSON.parse(readFileSync(join(home, '.scangate', 'local.json'), 'utf8')).adminToken as string;
    const listRunners = async () =>
      (
        (await (
          await fetch(`http://127.0.0.1:${port}/v1/runners`, { headers: { authorization: `Bearer ${admin}` } })
        ).json()) as { runners: Array<{ id: string; online: boolean; revoked: boolean }> }
      ).runners;
    const revokedId = (await listRunners())[0]!.id;
    const revoke = await fetch(`http://127.0.0.1:${port}/v1/runners/${revokedId}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${admin}` },
    });
    expect(revoke.status).toBe(200);
    await first.waitFor(/a new local runner is connected .*; the edge stayed up/, 60_000);
    expect(first.log).toContain('minting a new local runner');
    expect(first.running).toBe(true);
    const after = await listRunners();
    expect(after.filter((r) => !r.revoked)).toEqual([expect.objectContaining({ online: true })]);
    expect(after.find((r) => r.id === revokedId)?.revoked).toBe(true);
    const info = JSON.parse(readFileSync(join(home, '.scangate', 'local.json'), 'utf8'));
    expect(info).toMatchObject({
      url: `http://127.0.0.1:${port}`,
      mcpUrl: `http://127.0.0.1:${port}/mcp`,
      dashboardUrl: `http://127.0.0.1:${port}/dashboard`,
    });
    expect(info.scanToken).toMatch(/^sgt_/);
    expect(readFileSync(join(home, '.dev.vars'), 'utf8')).toContain(`ADMIN_TOKEN=${info.adminToken}`);

    // The CLI finds URL and token in .scangate/local.json by itself.
    const env = Object.fromEntries(
      Object.entries(process.env).filter(([key]) => key !== 'SCANGATE_URL' && key !== 'SCANGATE_TOKEN'),
    );
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [join(ROOT, 'scripts', 'scangate.ts'), 'scan', '127.0.0.1', '--args', `-sT -sV -p ${banner.port()}`],
      { cwd: home, env },
    );
    expect(stdout).toMatch(new RegExp(`${banner.port()}/tcp\\s+open\\s+ssh`));

    process.kill(first.pid, 'SIGINT');
    expect((await first.exited).code).toBe(0);
    expect(leftovers()).toEqual([]);

    const second = start({ SCANGATE_PORT: String(port) });
    await second.waitFor(/Ctrl-C stops everything/, 60_000);
    const saved = JSON.parse(readFileSync(join(home, '.scangate', 'local.json'), 'utf8'));
    expect(saved.scanToken).toBe(info.scanToken);
    const runners = (await (
      await fetch(`${saved.url}/v1/runners`, { headers: { authorization: `Bearer ${saved.adminToken}` } })
    ).json()) as { runners: Array<{ online: boolean; revoked: boolean }> };
    expect(runners.runners.filter((r) => !r.revoked)).toHaveLength(1);
    expect(runners.runners.find((r) => !r.revoked)?.online).toBe(true);
    process.kill(second.pid, 'SIGINT');
    expect((await second.exited).code).toBe(0);
    expect(leftovers()).toEqual([]);
  }, 120_000);
});
