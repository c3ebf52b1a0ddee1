/**
 * `npm start`: the whole stack on this machine. `wrangler dev` on 127.0.0.1 (state under .wrangler/), an admin
 * token in .dev.vars (made once), a scan token and a runner token minted through the admin API (kept under
 * .scangate/ and reused by the next start), and a local runner allowed to scan 127.0.0.0/8 only.
 * Ctrl-C stops everything. SCANGATE_PORT (8787) and SCANGATE_HOME (this checkout) move it. A port already held
 * is named before anything starts; a local runner that is revoked (the dashboard offers it) or exits is replaced
 * while the edge stays up. Run it through node-gate.mjs (`npm start`), which checks the Node version first.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { portHolder } from './port-check.ts';
import { sha256File } from './sea.ts';
import { callApi, ROOT, startEdge, startRunner, type Edge, type Proc } from './stack.ts';
import { BUILT_RUNNER, uploadRunner } from './upload-runner.ts';

/** Where local state lives: the checkout by default; SCANGATE_HOME moves it (tests use a temp dir). */
const HOME = resolve(process.env.SCANGATE_HOME ?? ROOT);
const STATE = join(HOME, '.scangate');
const DEV_VARS = join(HOME, '.dev.vars');
const LOCAL_JSON = join(STATE, 'local.json');
const RUNNER_TOKEN = join(STATE, 'runner.token');
const LOCAL_NETWORK = '127.0.0.0/8';
/** The runner's exit code when the edge refuses its token (runner/config.ts EXIT.unauthorized). */
const RUNNER_UNAUTHORIZED = 3;
/** Replacements of the local runner allowed per minute before `npm start` stops trying (the edge stays up). */
const RUNNER_RESTARTS_PER_MINUTE = 3;

function fail(message: string): never {
  process.stderr.write(`scangate: ${message}\n`);
  process.exit(1);
}

function firstLine(cmd: string, args: string[]): string | undefined {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')[0];
  } catch {
    return undefined;
  }
}

function checkPrerequisites(): void {
  if (Number(process.versions.node.split('.')[0]) < 22)
    fail(`Node ${process.version} is too old: scangate needs Node >= 22 (24 LTS recommended).`);
  if (!firstLine('nmap', ['--version']))
    fail(
      'nmap is not installed: install it with `sudo apt-get install -y nmap` (or `brew install nmap`), then run `npm start` again.',
    );
  if (!firstLine('prlimit', ['--version']))
    fail('prlimit (util-linux) is missing: install it with `sudo apt-get install -y util-linux`.');
  if (!existsSync(join(ROOT, 'node_modules', 'wrangler'))) fail('dependencies are missing: run `npm install` first.');
}

/** The admin token from .dev.vars, written with a fresh random one when absent. */
function adminToken(): string {
  if (!existsSync(DEV_VARS))
    writeFileSync(DEV_VARS, `ADMIN_TOKEN=${randomBytes(24).toString('hex')}\n`, { mode: 0o600 });
  const line = readFileSync(DEV_VARS, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('ADMIN_TOKEN='));
  const token = line
    ?.slice('ADMIN_TOKEN='.length)
    .trim()
    .replace(/^["']|["']$/g, '');
  if (!token) fail(`${DEV_VARS} has no ADMIN_TOKEN= line: add one or delete the file to get a new one.`);
  return token;
}

interface LocalInfo {
  url: string;
  mcpUrl: string;
  dashboardUrl: string;
  scanToken: string;
  adminToken: string;
}

function previousInfo(): Partial<LocalInfo> {
  try {
    return JSON.parse(readFileSync(LOCAL_JSON, 'utf8')) as Partial<LocalInfo>;
  } catch {
    return {};
  }
}

/** The scan token of the last start if the edge still accepts it, else a new one. */
async function scanToken(edge: Edge, admin: string, previous: string | undefined): Promise<string> {
  if (previous) {
    const res = await fetch(`${edge.url}/v1/scans?limit=1`, { headers: { authorization: `Bearer ${previous}` } });
    if (res.ok) return previous;
  }
  return (
    await callApi<{ token: string }>(edge.url, admin, 'POST', '/v1/tokens', { name: 'local scan token', role: 'scan' })
  ).token;
}

async function mintRunnerToken(edge: Edge, admin: string): Promise<string> {
  const name = `local-${randomBytes(3).toString('hex')}`;
  const { token } = await callApi<{ token: string }>(edge.url, admin, 'POST', '/v1/runners', {
    name,
    networks: [LOCAL_NETWORK],
  });
  writeFileSync(RUNNER_TOKEN, `${token}\n`, { mode: 0o600 });
  return name;
}

/** Starts the local runner; a token the edge refuses (state wiped, runner revoked) is replaced once. */
async function runner(edge: Edge, admin: string, fresh = false): Promise<Proc> {
  if (fresh || !existsSync(RUNNER_TOKEN)) await mintRunnerToken(edge, admin);
  for (let attempt = 0; ; attempt++) {
    const proc = startRunner({
      server: edge.url.replace(/^http/, 'ws'),
      tokenFile: RUNNER_TOKEN,
      networks: [LOCAL_NETWORK],
    });
    try {
      await proc.waitFor(/"event":"link\.ready"/, 30_000);
      return proc;
    } catch (e) {
      const { code } = await proc.stop();
      if (code === RUNNER_UNAUTHORIZED && attempt === 0) {
        await mintRunnerToken(edge, admin);
        continue;
      }
      throw e;
    }
  }
}

/** Refuses a port that is already held, naming it, its holder, and what to do; before anything starts. */
async function checkPort(port: number, admin: string): Promise<void> {
  const held = await portHolder(port);
  if (!held) return;
  const by = held.process ? ` by ${held.process}` : '';
  const elsewhere = `or start this one on another port: SCANGATE_PORT=${port === 8787 ? 8788 : port + 1} npm start`;
  if (!held.scangate) fail(`port ${port} on 127.0.0.1 is already in use${by}: stop that program, ${elsewhere}.`);
  // Our admin token opens it: the same home's stack is running.
  const ours = await fetch(`http://127.0.0.1:${port}/v1/runners`, {
    headers: { authorization: `Bearer ${admin}` },
  }).then(
    (r) => r.ok,
    () => false,
  );
  if (ours)
    fail(
      `scangate is already running on port ${port} for ${HOME}${by}: use it (URLs and tokens in ${LOCAL_JSON}), or stop it with Ctrl-C in its terminal first.`,
    );
  fail(
    `port ${port} is held by another scangate${by} with a different SCANGATE_HOME (its tokens are not in ${HOME}): stop it, ${elsewhere}.`,
  );
}

/** Puts the built single executable (npm run build:runner) into local R2 for GET /install/runner, once per build. */
async function serveBuiltRunner(persistTo: string): Promise<void> {
  if (!existsSync(BUILT_RUNNER))
    return void process.stdout.write('scangate: GET /install/runner answers 404 until npm run build:runner\n');
  const hash = await sha256File(BUILT_RUNNER);
  const marker = join(persistTo, 'runner-uploaded.sha256');
  if (existsSync(marker) && readFileSync(marker, 'utf8') === hash) return;
  process.stdout.write('scangate: putting dist/scangate-runner into local R2 for GET /install/runner …\n');
  await uploadRunner({ persistTo }).then(
    () => writeFileSync(marker, hash),
    (e: Error) => process.stdout.write(`scangate: not serving the runner executable: ${e.message}\n`),
  );
}

async function main(): Promise<void> {
  checkPrerequisites();
  const port = Number(process.env.SCANGATE_PORT ?? 8787);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    fail(`SCANGATE_PORT=${process.env.SCANGATE_PORT} is not a port number.`);
  mkdirSync(STATE, { recursive: true, mode: 0o700 });
  chmodSync(STATE, 0o700);
  const admin = adminToken();
  await checkPort(port, admin);

  const persistTo = join(HOME, '.wrangler', 'state');
  await serveBuiltRunner(persistTo);
  process.stdout.write(`scangate: starting wrangler dev on 127.0.0.1:${port} …\n`);
  // Local development: alert webhooks may go to a receiver on this machine over plain http (README, Alerts).
  const vars = { ALLOW_LOOPBACK_WEBHOOKS: '1' };
  const edge = await startEdge({ port, persistTo, envFile: DEV_VARS, vars }).catch((e: Error) =>
    fail(`wrangler dev did not start (is port ${port} free? set SCANGATE_PORT to use another):\n${e.message}`),
  );
  let stopping = false;
  let runnerProc: Proc | undefined;
  const shutdown = async (code: number) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write('\nscangate: stopping …\n');
    await runnerProc?.stop('SIGTERM', 35_000);
    await edge.proc.stop('SIGTERM', 5000);
    process.exit(code);
  };
  process.on('SIGINT', () => void shutdown(0));
  process.on('SIGTERM', () => void shutdown(0));
  void edge.proc.exited.then(() => {
    if (!stopping) process.stderr.write(`scangate: wrangler dev exited:\n${edge.proc.log.slice(-2000)}\n`);
    void shutdown(1);
  });

  try {
    const info: LocalInfo = {
      url: edge.url,
      mcpUrl: `${edge.url}/mcp`,
      dashboardUrl: `${edge.url}/dashboard`,
      scanToken: await scanToken(edge, admin, previousInfo().scanToken),
      adminToken: admin,
    };
    runnerProc = await runner(edge, admin);
    // A runner that goes (revoked from the dashboard, crashed) is replaced; the edge stays up either way.
    const restarts: number[] = [];
    const supervise = (proc: Proc) => {
      void proc.exited.then(async ({ code }) => {
        if (stopping) return;
        const revoked = code === RUNNER_UNAUTHORIZED;
        if (revoked)
          process.stdout.write(
            'scangate: the edge refused the local runner (revoked on the dashboard?); minting a new local runner …\n',
          );
        else
          process.stderr.write(
            `scangate: the local runner exited (code ${code}); starting it again. Its last output:\n${proc.log.slice(-2000)}\n`,
          );
        const now = Date.now();
        restarts.push(now);
        while (restarts[0]! < now - 60_000) restarts.shift();
        const retry = 'the edge stays up; Ctrl-C and `npm start` again to get a local runner back.';
        if (restarts.length > RUNNER_RESTARTS_PER_MINUTE)
          return void process.stderr.write(
            `scangate: the local runner went ${restarts.length} times in a minute, not starting it again: ${retry}\n`,
          );
        try {
          const next = await runner(edge, admin, revoked);
          if (stopping) return void (await next.stop());
          runnerProc = next;
          supervise(next);
          process.stdout.write(
            `scangate: a new local runner is connected (token in ${RUNNER_TOKEN}); the edge stayed up.\n`,
          );
        } catch (e) {
          process.stderr.write(
            `scangate: could not start a new local runner (${(e as Error).message.split('\n')[0]}): ${retry}\n`,
          );
        }
      });
    };
    supervise(runnerProc);
    writeFileSync(LOCAL_JSON, `${JSON.stringify(info, null, 2)}\n`, { mode: 0o600 });
    process.stdout.write(banner(info));
  } catch (e) {
    process.stderr.write(`scangate: ${(e as Error).message}\n`);
    await shutdown(1);
  }
}

function banner(info: LocalInfo): string {
  const mcpConfig = JSON.stringify(
    {
      mcpServers: {
        scangate: { type: 'http', url: info.mcpUrl, headers: { Authorization: `Bearer ${info.scanToken}` } },
      },
    },
    null,
    2,
  );
  return `
scangate is running (loopback only: the local runner may scan ${LOCAL_NETWORK}).

  API         ${info.url}
  MCP         ${info.mcpUrl}
  Dashboard   ${info.dashboardUrl}  (log in with the admin token in ${DEV_VARS})
  Scan token  ${info.scanToken}

Try it:

  curl -s -X POST ${info.url}/v1/scans \\
    -H 'authorization: Bearer ${info.scanToken}' -H 'content-type: application/json' \\
    -d '{"target": "127.0.0.1", "template": "quick", "wait": 60}'

  npx scangate scan 127.0.0.1 --template quick

MCP client config, for clients that send a header:

${mcpConfig}

Clients that sign in with OAuth need only the URL ${info.mcpUrl}:
they open ${info.url}/authorize in your browser; sign in there with the scan token above, and Allow.

Saved to ${LOCAL_JSON}. The CLI reads it from $SCANGATE_HOME, else the current directory, else the checkout${
    HOME === ROOT ? '' : `;\nfrom anywhere else: export SCANGATE_HOME=${HOME}`
  }.
Revoking the local runner on the dashboard replaces it; the edge stays up. Ctrl-C stops everything.
`;
}

await main();
