import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from '../../scripts/stack.ts';

/** The `scangate` bin as a person runs it (with the Node gate in front). */
export const SCANGATE_BIN = join(ROOT, 'scripts', 'scangate.mjs');

/**
 * Runs the CLI against `stack` with `token`; never throws, so a test sees the exit code, stdout and stderr of a
 * failure too. SCANGATE_HOME is the stack's own directory, so no local.json of the checkout is read.
 */
export async function runCli(
  stack: { url: string; dir: string },
  token: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { ...process.env, SCANGATE_URL: stack.url, SCANGATE_TOKEN: token, SCANGATE_HOME: stack.dir };
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [SCANGATE_BIN, ...args], {
      env,
      cwd: stack.dir,
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const { code, stdout, stderr } = e as { code: number; stdout: string; stderr: string };
    return { code, stdout, stderr };
  }
}
