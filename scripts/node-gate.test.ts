import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { stripsTypes } from './node-gate.mjs';
import { ROOT } from './stack.ts';

/**
 * The Node version gate, run by the real old Node this machine has (Debian's Node 20 at /usr/bin/node), the way
 * a newcomer meets it: `npm start`, `npm test`, `npx scangate`, and the runner bin. HOME points at an empty temp
 * dir so the gate finds no cached Node 24 and must explain itself.
 */
const OLD_NODE = '/usr/bin/node';
const OLD_NPM = '/usr/bin/npm';
const run = promisify(execFile);
const emptyHome = mkdtempSync(join(tmpdir(), 'scangate-oldnode-'));
afterAll(() => rmSync(emptyHome, { recursive: true, force: true }));

async function outcome(command: string, args: string[], env: NodeJS.ProcessEnv) {
  try {
    const { stdout, stderr } = await run(command, args, {
      cwd: ROOT,
      env: { PATH: '/usr/bin:/bin', ...env },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const { code, stdout, stderr } = e as { code: number; stdout: string; stderr: string };
    return { code, stdout, stderr };
  }
}

const oldNodeVersion = existsSync(OLD_NODE) ? (await run(OLD_NODE, ['--version'])).stdout.trim() : undefined;
const isOld = oldNodeVersion !== undefined && !stripsTypes(oldNodeVersion);
// Skipped only where no Node older than 22.18 sits at /usr/bin/node (the reason is printed, not hidden).
if (!isOld)
  console.warn(`node gate tests skipped: ${OLD_NODE} is ${oldNodeVersion ?? 'missing'}, not a Node older than 22.18`);
// Skipped only without Debian's npm beside that Node (check: `ls /usr/bin/npm`; apt-get install npm); said aloud too.
const hasOldNpm = existsSync(OLD_NPM);
if (isOld && !hasOldNpm)
  console.warn(`node gate npm test skipped: no ${OLD_NPM} to run npm start/test with the old Node`);

describe('the Node version needed', () => {
  it('knows which versions run TypeScript without flags', () => {
    expect(['v20.20.2', '22.17.1', '23.5.0', '18.0.0'].map(stripsTypes)).toEqual([false, false, false, false]);
    expect(['22.18.0', 'v23.6.0', '24.0.0', 'v26.1.0'].map(stripsTypes)).toEqual([true, true, true, true]);
  });

  describe.skipIf(!isOld)(`on ${oldNodeVersion ?? 'an old Node'}`, () => {
    const oneClearLine = (result: { code: number; stdout: string; stderr: string }) => {
      expect(result.code).toBe(1);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toMatch(
        new RegExp(`needs Node >= 22\\.18 .*this is Node ${oldNodeVersion!.replace(/\./g, '\\.')}.*install Node 24`),
      );
      expect(result.stderr + result.stdout).not.toMatch(/ERR_UNKNOWN_FILE_EXTENSION|\n\s+at /);
    };

    it('npx scangate and scangate-runner print one line and exit 1', async () => {
      oneClearLine(await outcome(OLD_NODE, [join(ROOT, 'scripts', 'scangate.mjs'), 'list'], { HOME: emptyHome }));
      oneClearLine(
        await outcome(OLD_NODE, [join(ROOT, 'scripts', 'scangate-runner.mjs'), '--help'], { HOME: emptyHome }),
      );
    });

    it.skipIf(!hasOldNpm)(
      'npm start, npm test and npx scangate print one line (besides npm’s own warnings) and exit non-zero',
      async () => {
        const npmEnv = {
          HOME: emptyHome,
          npm_config_cache: join(emptyHome, 'npm-cache'),
          npm_config_update_notifier: 'false',
          npm_config_offline: 'true',
        };
        for (const [command, args] of [
          [OLD_NPM, ['--silent', 'run', 'start']],
          [OLD_NPM, ['--silent', 'run', 'test']],
          [join(dirname(OLD_NPM), 'npx'), ['scangate', 'list']],
        ] as const) {
          const result = await outcome(command, [...args], npmEnv);
          expect(result.code).not.toBe(0);
          const ours = result.stderr.split('\n').filter((line) => line && !line.startsWith('npm '));
          expect(ours).toHaveLength(1);
          expect(ours[0]).toMatch(/needs Node >= 22\.18 .*install Node 24/);
          expect(result.stderr + result.stdout).not.toMatch(/ERR_UNKNOWN_FILE_EXTENSION|\n\s+at /);
        }
      },
    );

    it('uses the Node 24 that .ci/run keeps in ~/.cache/node24 when it is there', async () => {
      // process.execPath is a Node that runs TypeScript; the gate looks for it under $HOME/.cache/node24.
      const home = process.execPath.match(/^(.*)\/\.cache\/node24\//)?.[1];
      if (!home)
        return console.warn(
          `cached-Node case not checked: this Node (${process.execPath}) is not under ~/.cache/node24`,
        );
      const result = await outcome(OLD_NODE, [join(ROOT, 'scripts', 'scangate.mjs'), 'help'], { HOME: home });
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/^usage: scangate <command>/);
    });
  });
});
