/**
 * `scangate-runner update`: fetches the runner the edge serves (GET /install/runner), checks it against the edge's
 * SHA-256 (GET /install/runner.sha256, and the header on the download), checks that it runs (`--version`), puts it
 * in place of the installed executable with one rename, and restarts the service.
 *
 * MUST hold: the installed executable is replaced whole or not at all (the download goes to a temp file in the
 * same directory, renamed over it only once every check passed; a failed update leaves no temp file behind), and
 * a runner whose bytes do not match the edge's hash is never installed. The hash guards against a cut or corrupted
 * download; authenticity comes from fetching both over TLS from the edge (wss:// servers become https://).
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { parseSha256Line } from '../shared/protocol/runner-version.ts';
import { EXIT, isLoopbackHost, parseEnvFile, SERVICE_ENV_FILE } from './config.ts';

const run = promisify(execFile);
const SERVICE = 'scangate-runner.service';

export const UPDATE_USAGE = `Usage: scangate-runner update [--server <url>] [--path <file>] [--no-restart]

  Replaces this runner with the one the edge serves (checked against the edge's SHA-256), then restarts ${SERVICE}.
  --server <url>   the edge (wss://… as for run, or https://…); default SCANGATE_SERVER or ${SERVICE_ENV_FILE}
  --path <file>    the executable to replace (default: this one, when it is the single executable)
  --no-restart     replace only; restart the service yourself`;

export type UpdatePlan = { origin: string; target: string; restart: boolean };

/** The edge's HTTP origin for a runner's --server: wss→https, ws→http (loopback only, as for run). */
export function edgeOrigin(server: string): string | { problem: string } {
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    return { problem: `--server ${server} is not a URL` };
  }
  const scheme = { 'wss:': 'https:', 'https:': 'https:', 'ws:': 'http:', 'http:': 'http:' }[url.protocol];
  if (!scheme) return { problem: `--server ${server} must be wss:// or https://` };
  if (scheme === 'http:' && !isLoopbackHost(url.hostname))
    return { problem: `--server ${server}: plain ws:// or http:// only on loopback; use wss:// or https://` };
  return `${scheme}//${url.host}`;
}

/** Reads the command line (and the service's env file for the server); `selfPath` is this executable if a SEA. */
export function parseUpdateArgs(
  argv: string[],
  env: NodeJS.ProcessEnv,
  selfPath: string | null,
): { ok: true; plan: UpdatePlan } | { ok: false; message: string } {
  let values: { server?: string; path?: string; 'no-restart'?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { server: { type: 'string' }, path: { type: 'string' }, 'no-restart': { type: 'boolean' } },
      strict: true,
    }));
  } catch (e) {
    return { ok: false, message: `${(e as Error).message}\n${UPDATE_USAGE}` };
  }
  const fromFile = existsSync(SERVICE_ENV_FILE)
    ? parseEnvFile(readFileSync(SERVICE_ENV_FILE, 'utf8')).SCANGATE_SERVER
    : undefined;
  const server = values.server ?? env.SCANGATE_SERVER ?? fromFile;
  if (!server) return { ok: false, message: `say which edge to update from: --server wss://…\n${UPDATE_USAGE}` };
  const origin = edgeOrigin(server);
  if (typeof origin !== 'string') return { ok: false, message: origin.problem };
  const target = values.path ?? selfPath;
  if (!target)
    return {
      ok: false,
      message:
        'this runner runs on a separate Node, not as the single executable: say which file to replace with --path',
    };
  return { ok: true, plan: { origin, target, restart: !values['no-restart'] } };
}

class UpdateRefused extends Error {}

async function fetchOk(url: string): Promise<Response> {
  const res = await fetch(url, { redirect: 'error' }).catch((e: Error) => {
    throw new UpdateRefused(`${url}: ${e.message} (${(e.cause as Error | undefined)?.message ?? 'no detail'})`);
  });
  if (!res.ok) throw new UpdateRefused(`${url} answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
  return res;
}

/** Streams `res` into a new file at `path` (mode 0755), returns its SHA-256; the file is synced to disk. */
async function download(res: Response, path: string): Promise<string> {
  const hash = createHash('sha256');
  const file = await open(path, 'wx', 0o755);
  try {
    for await (const chunk of res.body ?? []) {
      hash.update(chunk);
      await file.write(chunk);
    }
    await file.sync();
  } finally {
    await file.close();
  }
  return hash.digest('hex');
}

/** Runs the update; `say` gets one line per step. Returns the exit code. */
export async function update(plan: UpdatePlan, say: (line: string) => void): Promise<number> {
  const temp = join(dirname(plan.target), `.scangate-runner.update-${randomBytes(6).toString('hex')}`);
  try {
    const expected = parseSha256Line(await (await fetchOk(`${plan.origin}/install/runner.sha256`)).text());
    if (!expected) throw new UpdateRefused(`${plan.origin}/install/runner.sha256 holds no SHA-256`);
    const current = existsSync(plan.target)
      ? createHash('sha256')
          .update(await readFile(plan.target))
          .digest('hex')
      : null;
    if (current === expected) {
      say(`${plan.target} is already the runner ${plan.origin} serves (sha256 ${expected}): nothing to do`);
      return EXIT.ok;
    }
    const res = await fetchOk(`${plan.origin}/install/runner`);
    const header = res.headers.get('x-scangate-runner-sha256');
    if (header && header !== expected)
      throw new UpdateRefused(`the edge's download says sha256 ${header}, its .sha256 says ${expected}`);
    const got = await download(res, temp);
    if (got !== expected)
      throw new UpdateRefused(`the download's sha256 is ${got}, the edge says ${expected}: not installed`);
    const said = await run(temp, ['--version'], { encoding: 'utf8', timeout: 30_000 }).then(
      (r) => /^scangate-runner (\S+)\n?$/.exec(r.stdout)?.[1],
      () => undefined,
    );
    if (!said) throw new UpdateRefused('the download does not run here (--version failed): not installed');
    if (existsSync(plan.target)) await chmod(temp, (await stat(plan.target)).mode & 0o7777);
    await rename(temp, plan.target);
    say(`replaced ${plan.target} with scangate-runner ${said} (sha256 ${expected})`);
  } catch (e) {
    await rm(temp, { force: true });
    const code = (e as NodeJS.ErrnoException).code;
    const reason =
      e instanceof UpdateRefused
        ? e.message
        : typeof code === 'string' && /^E[A-Z]+$/.test(code)
          ? `cannot write beside ${plan.target} (${code}): run it as the executable's owner (sudo scangate-runner update)`
          : undefined;
    if (!reason) throw e;
    say(`update refused: ${reason}; ${plan.target} is unchanged`);
    return EXIT.fatal;
  }
  return plan.restart ? restartService(say) : EXIT.ok;
}

/** systemctl restart when systemd runs this host (PID 1); else says what to do. */
async function restartService(say: (line: string) => void): Promise<number> {
  const systemd = existsSync('/run/systemd/system');
  if (!systemd) {
    say(`systemd is not running this host (PID 1): restart the runner yourself to run the new version`);
    return EXIT.ok;
  }
  return run('systemctl', ['restart', SERVICE]).then(
    () => {
      say(`restarted ${SERVICE}`);
      return EXIT.ok;
    },
    (e: { stderr?: string; message: string }) => {
      say(`systemctl restart ${SERVICE} failed: ${(e.stderr || e.message).trim()}; restart it yourself`);
      return EXIT.fatal;
    },
  );
}
