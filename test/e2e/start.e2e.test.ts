import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, Proc, ROOT } from '../../scripts/stack.ts';
import { useBannerServer } from '../helpers/banner-server.ts';

/** `npm start` as a newcomer runs it: the script itself, with its state in a temp dir (SCANGATE_HOME). */
const home = mkdtempSync(join(tmpdir(), 'scangate-start-'));
const banner = useBannerServer();
const started: Proc[] = [];
afterAll(async () => {
  for (const p of started) await p.stop('SIGKILL', 1000);
  rmSync(home, { recursive: true, force: true });
});

function start(env: NodeJS.ProcessEnv): Proc {
  const proc = new Proc(process.execPath, [join(ROOT, 'scripts', 'start.ts')], { env: { ...process.env, SCANGATE_HOME: home, ...env } });
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

  it('runs the whole stack, serves a scan through the CLI, stops cleanly on Ctrl-C and reuses its state', async () => {
    const port = await freePort();
    const first = start({ SCANGATE_PORT: String(port) });
    await first.waitFor(/Ctrl-C stops everything/, 60_000);
    expect(first.log).toContain(`MCP         http://127.0.0.1:${port}/mcp`);
    expect(first.log).toMatch(/curl -s -X POST/);
    const info = JSON.parse(readFileSync(join(home, '.scangate', 'local.json'), 'utf8'));
    expect(info).toMatchObject({ url: `http://127.0.0.1:${port}`, mcpUrl: `http://127.0.0.1:${port}/mcp`, dashboardUrl: `http://127.0.0.1:${port}/dashboard` });
    expect(info.scanToken).toMatch(/^sgt_/);
    expect(readFileSync(join(home, '.dev.vars'), 'utf8')).toContain(`ADMIN_TOKEN=${info.adminToken}`);

    // The CLI finds URL and token in .scangate/local.json by itself.
    const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => key !== 'SCANGATE_URL' && key !== 'SCANGATE_TOKEN'));
    const { stdout } = await promisify(execFile)(process.execPath, [join(ROOT, 'scripts', 'scangate.ts'), 'scan', '127.0.0.1', '--args', `-sT -sV -p ${banner.port()}`], { cwd: home, env });
    expect(stdout).toMatch(new RegExp(`${banner.port()}/tcp\\s+open\\s+ssh`));

    process.kill(first.pid, 'SIGINT');
    expect((await first.exited).code).toBe(0);
    expect(leftovers()).toEqual([]);

    const second = start({ SCANGATE_PORT: String(port) });
    await second.waitFor(/Ctrl-C stops everything/, 60_000);
    const again = JSON.parse(readFileSync(join(home, '.scangate', 'local.json'), 'utf8'));
    expect(again.scanToken).toBe(info.scanToken);
    const runners = (await (await fetch(`${again.url}/v1/runners`, { headers: { authorization: `Bearer ${again.adminToken}` } })).json()) as { runners: Array<{ online: boolean }> };
    expect(runners.runners).toHaveLength(1);
    expect(runners.runners[0]?.online).toBe(true);
    process.kill(second.pid, 'SIGINT');
    expect((await second.exited).code).toBe(0);
    expect(leftovers()).toEqual([]);
  }, 120_000);
});
