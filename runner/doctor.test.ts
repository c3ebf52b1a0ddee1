import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunnerSelf } from '../shared/protocol/runner-self.ts';
import { parseCommandLine, type Settings } from './config.ts';
import { doctor, formatChecks, type Check } from './doctor.ts';
import { explainConnectError } from './messages.ts';
import { edgeRows, selfCheckUrl } from './self-check.ts';

/** doctor in this process: real files, real tools, a real plain-HTTP listener on loopback. */
const dir = mkdtempSync(join(tmpdir(), 'scangate-doctor-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const GOOD = 'sgr_a0123456789abcdefghijklmnopqrstuvwxyzABCDEFG';

function tokenFile(name: string, text: string, mode = 0o600): string {
  const path = join(dir, name);
  writeFileSync(path, text, { mode });
  chmodSync(path, mode);
  return path;
}

function settings(args: string[], env: Record<string, string> = {}): Settings {
  const r = parseCommandLine(
    ['doctor', ...args],
    env,
    (path) => readFileSync(path, 'utf8'),
    join(dir, 'no-runner.env'),
  );
  if (!r.ok || r.command.kind !== 'doctor') throw new Error(r.ok ? r.command.kind : r.message);
  return r.command.settings;
}

const row = (checks: Check[], name: string) => checks.find((c) => c.check === name);

/** Rows that do not need nmap skip its (slow) script census. */
const NO_NMAP = ['--nmap', join(dir, 'no-nmap')];

const EVERY_ROW = [
  'environment',
  'node',
  'token',
  'server',
  'networks',
  'settings',
  'nmap',
  'prlimit',
  'setpriv',
  'privileges',
  'fence',
];

describe('doctor', () => {
  let plain: Server;
  let plainPort = 0;
  beforeAll(async () => {
    plain = createServer((_req, res) => res.end('plain HTTP'));
    await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
    plainPort = (plain.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => plain.close(() => resolve())));

  it('reports every row with a fix when everything is wrong, instead of stopping at the first', async () => {
    const checks = await doctor(
      settings([
        '--token-file',
        join(dir, 'missing'),
        '--nmap',
        '/etc/passwd',
        '--network',
        '10.0.0.1/8',
        '--grace',
        'soon',
      ]),
    );
    expect(checks.map((c) => c.check)).toEqual(expect.arrayContaining(EVERY_ROW));
    expect(row(checks, 'token')).toMatchObject({
      status: 'FAIL',
      detail: `--token-file ${join(dir, 'missing')} does not exist`,
    });
    expect(row(checks, 'server')).toMatchObject({ status: 'FAIL', detail: 'no server given' });
    expect(row(checks, 'networks')).toMatchObject({
      status: 'FAIL',
      detail: expect.stringMatching(/host bits are set/),
    });
    expect(row(checks, 'settings')).toMatchObject({ status: 'FAIL', detail: expect.stringMatching(/--grace must be/) });
    expect(row(checks, 'nmap')).toMatchObject({ status: 'FAIL', detail: '/etc/passwd is not executable (mode 0644)' });
    for (const c of checks.filter((c) => c.status !== 'ok')) expect(c.fix, c.check).toBeTruthy();
    const table = formatChecks(checks);
    expect(table).toMatch(/^token\s+FAIL\s+--token-file .* does not exist\n\s+fix: /m);
    // prlimit, setpriv and the Node version are checked whatever else failed.
    expect(row(checks, 'prlimit')?.status).toBe('ok');
    expect(row(checks, 'node')?.status).toBe('ok');
  });

  it('says "is a directory" and "not found" for --nmap, naming the path', async () => {
    mkdirSync(join(dir, 'nmapdir'), { recursive: true });
    expect(row(await doctor(settings(['--nmap', join(dir, 'nmapdir')])), 'nmap')?.detail).toBe(
      `${join(dir, 'nmapdir')} is a directory, not a program`,
    );
    expect(row(await doctor(settings(['--nmap', join(dir, 'nope')])), 'nmap')?.detail).toBe(
      `${join(dir, 'nope')} not found`,
    );
  });

  it('wss:// to a port that speaks plain HTTP: says so, and how to fix it', async () => {
    const checks = await doctor(
      settings([
        '--server',
        `wss://127.0.0.1:${plainPort}`,
        '--token-file',
        tokenFile('good', `${GOOD}\n`),
        '--network',
        '127.0.0.0/8',
      ]),
    );
    const server = row(checks, 'server')!;
    expect(server.status).toBe('FAIL');
    expect(server.detail).toBe(
      `127.0.0.1:${plainPort} speaks plain HTTP, not TLS, so wss:// cannot work there (EPROTO)`,
    );
    expect(server.fix).toMatch(/Use ws:\/\/127\.0\.0\.1:\d+ .*or put TLS in front/);
    // The rest is still checked: the networks row says it could not compare.
    expect(row(checks, 'networks')).toMatchObject({
      status: 'warn',
      detail: expect.stringMatching(/not compared with the grant/),
    });
  });

  it('a plain HTTP server that is not scangate is named as such', async () => {
    const checks = await doctor(
      settings([
        '--server',
        `ws://127.0.0.1:${plainPort}`,
        '--token-file',
        tokenFile('good', `${GOOD}\n`),
        '--network',
        '127.0.0.0/8',
      ]),
    );
    expect(row(checks, 'server')?.detail).toMatch(/HTTP 200, and not from a scangate edge/);
  });

  it.each([
    [
      'an API token',
      'sgt_a0123456789abcdefghijklmnopqrstuvwxyzABCDEFG\n',
      0o600,
      'FAIL',
      /holds an API token \(sgt_…\), not a runner token/,
    ],
    [
      'an old-style srt_ token',
      'srt_0123456789abcdef0123456789abcdef\n',
      0o600,
      'FAIL',
      /does not start sgr_, as runner tokens do/,
    ],
    ['a token cut short', 'sgr_a0123456789\n', 0o600, 'FAIL', /is 15 characters, not 48/],
    ['an empty file', '\n', 0o600, 'FAIL', /is empty/],
    ['a file every user can read', `${GOOD}\n`, 0o644, 'warn', /readable by every user \(mode 0644\)/],
    ['a good token', `${GOOD}\n`, 0o600, 'ok', /a runner token \(sgr_a…\)/],
  ] as const)('token row for %s', async (_name, text, mode, status, detail) => {
    const checks = await doctor(settings(['--token-file', tokenFile(`t-${_name.length}`, text, mode), ...NO_NMAP]));
    expect(row(checks, 'token')).toMatchObject({ status, detail: expect.stringMatching(detail) });
    expect(formatChecks(checks)).not.toContain(GOOD);
  });

  it('reads --env-file like the service, and warns when this shell overrides it', async () => {
    const envFile = join(dir, 'runner.env');
    writeFileSync(
      envFile,
      `SCANGATE_TOKEN_FILE=${tokenFile('env-token', `${GOOD}\n`)}\nSCANGATE_NETWORKS=10.20.0.0/16\n`,
    );
    const checks = await doctor(settings(['--env-file', envFile, ...NO_NMAP], { SCANGATE_NETWORKS: '10.30.0.0/16' }));
    expect(row(checks, 'environment')).toMatchObject({
      status: 'warn',
      detail: expect.stringMatching(/this shell overrides SCANGATE_NETWORKS, the service does not/),
    });
    expect(row(checks, 'token')?.status).toBe('ok');
    expect(
      row(await doctor(settings(['--env-file', join(dir, 'absent.env'), ...NO_NMAP])), 'environment'),
    ).toMatchObject({ status: 'FAIL', detail: expect.stringMatching(/absent\.env does not exist/) });
  });
});

describe("doctor's comparison with the edge (edgeRows: pure, on the edge's answer)", () => {
  const self = (over: Partial<RunnerSelf> = {}): RunnerSelf => ({
    runner: { id: 'rn_1', name: 'lab-a', pool: 'default' },
    grantedNetworks: ['10.20.0.0/16'],
    link: {
      online: false,
      lastSeen: null,
      declaredNetworks: null,
      runnerVersion: null,
      nmapVersion: null,
      privileged: null,
    },
    breaker: 'CLOSED',
    edge: { protocols: [1], heartbeatSec: 30 },
    policy: { allowedNetworks: ['10.0.0.0/8'], allowIntrusive: false, allowEvasion: false },
    ...over,
  });
  const rows = (args: string[], body: unknown, status = 200) =>
    edgeRows(settings(['--server', 'wss://edge.example.com', '--token-file', tokenFile('cmp', `${GOOD}\n`), ...args]), {
      kind: 'answer',
      url: 'https://edge.example.com/v1/runners/self',
      status,
      body,
    });

  it('declared inside the grant: ok; more than the grant: FAIL, as the edge would refuse the hello', () => {
    expect(row(rows(['--network', '10.20.1.0/24'], self()), 'networks')).toMatchObject({
      status: 'ok',
      detail: 'declared 10.20.1.0/24, inside the grant (10.20.0.0/16)',
    });
    const wider = row(rows(['--network', '10.20.0.0/16', '--network', '10.30.0.0/16'], self()), 'networks')!;
    expect(wider).toMatchObject({
      status: 'FAIL',
      detail: expect.stringMatching(/declares 10\.30\.0\.0\/16, which was not granted .*would refuse its hello/),
    });
    expect(wider.fix).toContain('SCANGATE_NETWORKS=10.20.0.0/16');
    expect(row(rows([], self()), 'networks')).toMatchObject({
      status: 'FAIL',
      fix: expect.stringContaining('SCANGATE_NETWORKS=10.20.0.0/16'),
    });
  });

  it('a grant outside the pool policy now: warn', () => {
    expect(
      row(
        rows(
          ['--network', '10.20.0.0/16'],
          self({ policy: { allowedNetworks: ['192.168.0.0/16'], allowIntrusive: false, allowEvasion: false } }),
        ),
        'networks',
      )?.status,
    ).toBe('warn');
  });

  it('says whether a runner holds the link now, and leaves it alone', () => {
    const online = self({
      link: {
        online: true,
        lastSeen: '2026-01-01T00:00:00.000Z',
        declaredNetworks: ['10.20.0.0/16'],
        runnerVersion: '0.1.0',
        nmapVersion: '7.93',
        privileged: false,
      },
    });
    expect(row(rows(['--network', '10.20.0.0/16'], online), 'link')).toMatchObject({
      status: 'ok',
      detail: expect.stringMatching(
        /connected with this token now \(runner 0\.1\.0, nmap 7\.93, unprivileged, networks 10\.20\.0\.0\/16\); doctor left its link alone/,
      ),
    });
    expect(row(rows(['--network', '10.20.0.0/16'], self()), 'link')).toMatchObject({
      status: 'warn',
      detail: expect.stringMatching(/never connected/),
    });
  });

  it('names an open breaker, and says nothing of a closed one', () => {
    expect(row(rows([], self({ breaker: 'OPEN' })), 'breaker')).toMatchObject({
      status: 'warn',
      detail: expect.stringMatching(/breaker for this runner is OPEN/),
    });
    expect(row(rows([], self()), 'breaker')).toBeUndefined();
  });

  it('protocol and consent against the pool', () => {
    expect(row(rows([], self({ edge: { protocols: [2], heartbeatSec: 30 } })), 'protocol')?.status).toBe('FAIL');
    expect(row(rows(['--allow-intrusive'], self()), 'consent')).toMatchObject({
      status: 'warn',
      detail: expect.stringMatching(/intrusive: allowed here, but the pool policy refuses them/),
    });
    const pool = self({ policy: { allowedNetworks: ['10.0.0.0/8'], allowIntrusive: true, allowEvasion: false } });
    expect(row(rows([], pool), 'consent')).toMatchObject({
      status: 'ok',
      detail: expect.stringMatching(/SCANGATE_ALLOW_INTRUSIVE=1 to serve them/),
    });
  });

  it('token refused, API token, an edge without the self-check, not scangate at all', () => {
    const error = (type: string, message: string) => ({ error: { type, message, recoverySuggestion: 'x' } });
    expect(row(rows([], error('unauthorized', 'Missing or invalid bearer token'), 401), 'server')?.detail).toMatch(
      /token refused \(HTTP 401\)/,
    );
    expect(
      row(rows([], error('forbidden', 'Only runner tokens have a runner self-check'), 403), 'server')?.detail,
    ).toMatch(/HTTP 403: Only runner tokens/);
    expect(row(rows([], error('not_found', 'No such endpoint'), 404), 'server')?.status).toBe('warn');
    expect(row(rows([], '<html>', 502), 'server')?.detail).toMatch(/HTTP 502, and not from a scangate edge/);
  });

  it('finds the self-check beside the runner endpoint', () => {
    expect(selfCheckUrl('wss://edge.example.com/v1/runners/connect')).toBe('https://edge.example.com/v1/runners/self');
    expect(selfCheckUrl('ws://127.0.0.5:8787/v1/runners/connect')).toBe('http://127.0.0.5:8787/v1/runners/self');
    expect(selfCheckUrl('wss://edge.example.com/scangate/v1/runners/connect')).toBe(
      'https://edge.example.com/scangate/v1/runners/self',
    );
  });
});

describe('connection errors, explained', () => {
  it.each([
    [
      'wss://127.0.0.1:8787',
      { code: 'EPROTO', message: 'write EPROTO …:wrong version number:…' },
      /127\.0\.0\.1:8787 speaks plain HTTP, not TLS/,
    ],
    [
      'ws://127.0.0.1:1',
      { code: 'ECONNREFUSED', message: 'connect ECONNREFUSED 127.0.0.1:1' },
      /nothing listens on 127\.0\.0\.1:1/,
    ],
    [
      'wss://edge.example.com',
      { code: 'DEPTH_ZERO_SELF_SIGNED_CERT', message: 'self-signed certificate' },
      /edge\.example\.com:443 presents a TLS certificate this host does not trust/,
    ],
    [
      'wss://edge.example.com',
      { code: 'ENOTFOUND', message: 'getaddrinfo ENOTFOUND edge.example.com' },
      /cannot resolve edge\.example\.com/,
    ],
    ['ws://127.0.0.1:8443', { code: 'ECONNRESET', message: 'socket hang up' }, /closed the connection/],
  ])('%s, %j', (url, error, detail) => {
    const explained = explainConnectError(url, Object.assign(new Error(error.message), { code: error.code }));
    expect(explained.detail).toMatch(detail);
    expect(explained.fix).toBeTruthy();
  });
});
