/**
 * `npm start`: the whole stack on this machine. `wrangler dev` on 127.0.0.1 (state under .wrangler/), an admin
 * token in .dev.vars (made once), a scan token and a runner token minted through the admin API (kept under
 * .scangate/ and reused by the next start), and a local runner allowed to scan 127.0.0.0/8 only.
 * Ctrl-C stops everything. SCANGATE_PORT (8787) and SCANGATE_HOME (this checkout) move it.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { callApi, ROOT, startEdge, startRunner, type Edge, type Proc } from './stack.ts';

/** Where local state lives: the checkout by default; SCANGATE_HOME moves it (tests use a temp dir). */
const HOME = process.env.SCANGATE_HOME ?? ROOT;
const STATE = join(HOME, '.scangate');
const DEV_VARS = join(HOME, '.dev.vars');
const LOCAL_JSON = join(STATE, 'local.json');
const RUNNER_TOKEN = join(STATE, 'runner.token');
const LOCAL_NETWORK = '127.0.0.0/8';

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
  if (Number(process.versions.node.split('.')[0]) < 22) fail(`Node ${process.version} is too old: scangate needs Node >= 22 (24 LTS recommended).`);
  if (!firstLine('nmap', ['--version'])) fail('nmap is not installed: install it with `sudo apt-get install -y nmap` (or `brew install nmap`), then run `npm start` again.');
  if (!firstLine('prlimit', ['--version'])) fail('prlimit (util-linux) is missing: install it with `sudo apt-get install -y util-linux`.');
  if (!existsSync(join(ROOT, 'node_modules', 'wrangler'))) fail('dependencies are missing: run `npm install` first.');
}

/** The admin token from .dev.vars, written with a fresh random one when absent. */
function adminToken(): string {
  if (!existsSync(DEV_VARS)) writeFileSync(DEV_VARS, `ADMIN_TOKEN=${randomBytes(24).toString('hex')}\n`, { mode: 0o600 });
  const line = readFileSync(DEV_VARS, 'utf8').split('\n').find((l) => l.startsWith('ADMIN_TOKEN='));
  const token = line?.slice('ADMIN_TOKEN='.length).trim().replace(/^["']|["']$/g, '');
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
  return (await callApi<{ token: string }>(edge.url, admin, 'POST', '/v1/tokens', { name: 'local scan token', role: 'scan' })).token;
}

async function mintRunnerToken(edge: Edge, admin: string): Promise<void> {
  const name = `local-${randomBytes(3).toString('hex')}`;
  const { token } = await callApi<{ token: string }>(edge.url, admin, 'POST', '/v1/runners', { name, networks: [LOCAL_NETWORK] });
  writeFileSync(RUNNER_TOKEN, `${token}\n`, { mode: 0o600 });
}

/** Starts the local runner; a token the edge refuses (state wiped, runner revoked) is replaced once. */
async function runner(edge: Edge, admin: string): Promise<Proc> {
  if (!existsSync(RUNNER_TOKEN)) await mintRunnerToken(edge, admin);
  for (let attempt = 0; ; attempt++) {
    const proc = startRunner({ server: edge.url.replace(/^http/, 'ws'), tokenFile: RUNNER_TOKEN, networks: [LOCAL_NETWORK] });
    try {
      await proc.waitFor(/"event":"link\.ready"/, 30_000);
      return proc;
    } catch (e) {
      const { code } = await proc.stop();
      if (code === 3 && attempt === 0) {
        await mintRunnerToken(edge, admin);
        continue;
      }
      throw e;
    }
  }
}

async function main(): Promise<void> {
  checkPrerequisites();
  mkdirSync(STATE, { recursive: true, mode: 0o700 });
  chmodSync(STATE, 0o700);
  const admin = adminToken();
  const port = Number(process.env.SCANGATE_PORT ?? 8787);
  if (!Number.isInteger(port) || port < 1 || port > 65535) fail(`SCANGATE_PORT=${process.env.SCANGATE_PORT} is not a port number.`);

  process.stdout.write(`scangate: starting wrangler dev on 127.0.0.1:${port} …\n`);
  const edge = await startEdge({ port, persistTo: join(HOME, '.wrangler', 'state'), envFile: DEV_VARS }).catch((e: Error) =>
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
    void runnerProc.exited.then(({ code }) => {
      if (!stopping) process.stderr.write(`scangate: the local runner exited (code ${code}):\n${runnerProc!.log.slice(-2000)}\n`);
      void shutdown(1);
    });
    writeFileSync(LOCAL_JSON, `${JSON.stringify(info, null, 2)}\n`, { mode: 0o600 });
    process.stdout.write(banner(info));
  } catch (e) {
    process.stderr.write(`scangate: ${(e as Error).message}\n`);
    await shutdown(1);
  }
}

function banner(info: LocalInfo): string {
  const mcpConfig = JSON.stringify({ mcpServers: { scangate: { type: 'http', url: info.mcpUrl, headers: { Authorization: `Bearer ${info.scanToken}` } } } }, null, 2);
  return `
scangate is running (loopback only: the local runner may scan ${LOCAL_NETWORK}).

  API         ${info.url}
  MCP         ${info.mcpUrl}
  Dashboard   ${info.dashboardUrl}  (log in with the admin token in .dev.vars)
  Scan token  ${info.scanToken}

Try it:

  curl -s -X POST ${info.url}/v1/scans \\
    -H 'authorization: Bearer ${info.scanToken}' -H 'content-type: application/json' \\
    -d '{"target": "127.0.0.1", "template": "quick", "wait": 60}'

  npx scangate scan 127.0.0.1 --template quick

MCP client config:

${mcpConfig}

Saved to .scangate/local.json. Ctrl-C stops everything.
`;
}

await main();
