import { describe, expect, it } from 'vitest';
import { isLoopbackHost, parseCommandLine, parseEnvFile, type RunnerConfig, type Settings } from './config.ts';

const TOKEN = 'sgr_0123456789abcdef0123456789abcdef0123456789ab';
const files: Record<string, string> = {
  '/etc/scangate/token': `${TOKEN}\n`,
  '/etc/scangate/runner.env':
    '# as the systemd unit reads it\nSCANGATE_SERVER=wss://scangate.example.com\nSCANGATE_TOKEN_FILE="/etc/scangate/token"\n\nSCANGATE_NETWORKS=10.20.0.0/16,10.30.0.0/16\nOTHER=1\n',
};
const readFile = (path: string) => {
  if (path in files) return files[path]!;
  if (path === '/etc/scangate/locked') throw Object.assign(new Error('nope'), { code: 'EACCES' });
  throw Object.assign(new Error('nope'), { code: 'ENOENT' });
};

function parse(args: string, env: Record<string, string> = {}, defaultEnvFile = '/nonexistent/runner.env') {
  return parseCommandLine(args.split(' ').filter(Boolean), env, readFile, defaultEnvFile);
}

function doctorSettings(args: string, env: Record<string, string> = {}, defaultEnvFile?: string): Settings {
  const r = parse(`doctor ${args}`, env, defaultEnvFile);
  if (!r.ok || r.command.kind !== 'doctor') throw new Error(r.ok ? r.command.kind : r.message);
  return r.command.settings;
}

function config(args: string, env: Record<string, string> = {}): RunnerConfig {
  const r = parse(args, env);
  if (!r.ok || r.command.kind !== 'run') throw new Error(r.ok ? r.command.kind : r.message);
  return r.command.config;
}

describe('scangate-runner command line', () => {
  it('reads run options with their defaults', () => {
    expect(
      config(
        'run --server ws://127.0.0.1:8787 --token-file /etc/scangate/token --network 127.0.0.0/8 --network fd00::/8',
      ),
    ).toEqual({
      connectUrl: 'ws://127.0.0.1:8787/v1/runners/connect',
      token: TOKEN,
      networks: ['127.0.0.0/8', 'fd00::/8'],
      maxConcurrency: 2,
      nmap: 'nmap',
      graceSec: 30,
      allowIntrusive: false,
      allowEvasion: false,
    });
  });

  it('takes every option from SCANGATE_* variables, flags winning', () => {
    const env = {
      SCANGATE_SERVER: 'wss://scangate.example.com',
      SCANGATE_RUNNER_TOKEN: TOKEN,
      SCANGATE_NETWORKS: '10.20.0.0/16, 10.30.0.0/16',
      SCANGATE_MAX_CONCURRENCY: '4',
      SCANGATE_NMAP: '/usr/local/bin/nmap',
      SCANGATE_GRACE: '10',
      SCANGATE_ALLOW_INTRUSIVE: '1',
    };
    const c = config('run --max-concurrency 8', env);
    expect(c).toMatchObject({
      connectUrl: 'wss://scangate.example.com/v1/runners/connect',
      networks: ['10.20.0.0/16', '10.30.0.0/16'],
      maxConcurrency: 8,
      nmap: '/usr/local/bin/nmap',
      graceSec: 10,
      allowIntrusive: true,
      allowEvasion: false,
    });
  });

  it.each([
    ['run --server ws://127.0.0.1:8787 --token-file /etc/scangate/token', /no --network given/],
    ['run --token-file /etc/scangate/token --network 127.0.0.0/8', /no --server/],
    ['run --server ws://127.0.0.1:8787 --network 127.0.0.0/8', /no runner token/],
    [
      'run --server ws://lab.example.com --token-file /etc/scangate/token --network 127.0.0.0/8',
      /not loopback: the token would cross the network in clear; use wss:\/\//,
    ],
    ['run --server http://127.0.0.1 --token-file /etc/scangate/token --network 127.0.0.0/8', /ws:\/\/ or wss:\/\//],
    [
      'run --server ws://127.0.0.1 --token-file /missing --network 127.0.0.0/8',
      /^--token-file \/missing does not exist$/,
    ],
    [
      'run --server ws://127.0.0.1 --token-file /etc/scangate/locked --network 127.0.0.0/8',
      /--token-file \/etc\/scangate\/locked is not readable by uid \d+ \(EACCES\)/,
    ],
    ['run --server ws://127.0.0.1 --env-file /missing.env --network 127.0.0.0/8', /^\/missing.env does not exist$/],
    [
      'run --server ws://10.0.0.5 --token-file /etc/scangate/token --network 127.0.0.0/8',
      /ws:\/\/ to 10\.0\.0\.5, which is not loopback/,
    ],
    ['run --server ws://[::2] --token-file /etc/scangate/token --network 127.0.0.0/8', /not loopback/],
    ['run --server ws://127.0.0.1 --token-file /etc/scangate/token --network 10.0.0.1/8', /host bits are set/],
    [
      'run --server ws://127.0.0.1 --token-file /etc/scangate/token --network 127.0.0.0/8 --max-concurrency 0',
      /--max-concurrency must be a whole number from 1 to 64/,
    ],
    [
      'run --server ws://127.0.0.1 --token-file /etc/scangate/token --network 127.0.0.0/8 --grace soon',
      /--grace must be/,
    ],
    ['run --bogus', /Unknown option '--bogus'/],
    ['scan', /unknown command "scan"/],
    ['', /no command given/],
    ['run extra', /unexpected argument "extra"/],
  ])('%s → one clear line', (args, message) => {
    const r = parse(args);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.message).toMatch(message);
      expect(r.message).not.toContain('\n');
    }
  });

  it('has help, version and a doctor that needs no server', () => {
    expect(parse('--help')).toEqual({ ok: true, command: { kind: 'help' } });
    expect(parse('--version')).toEqual({ ok: true, command: { kind: 'version' } });
    const doctor = parse('doctor --network 127.0.0.0/8');
    expect(doctor.ok && doctor.command.kind).toBe('doctor');
  });

  it.each([
    'ws://127.0.0.5:8787',
    'ws://127.255.255.254',
    'ws://127.1:8787',
    'ws://localhost:8787',
    'ws://[::1]:8787',
    'ws://[::ffff:127.0.0.5]:8787',
  ])('takes plain %s: all of 127.0.0.0/8 and ::1 are loopback', (server) => {
    expect(config(`run --server ${server} --token-file /etc/scangate/token --network 127.0.0.0/8`).connectUrl).toMatch(
      /^ws:\/\/.*\/v1\/runners\/connect$/,
    );
  });

  it('knows loopback from the rest', () => {
    for (const host of ['127.0.0.1', '127.10.20.30', '[::1]', 'localhost', '[::ffff:7f00:5]'])
      expect(isLoopbackHost(host), host).toBe(true);
    for (const host of ['128.0.0.1', '10.0.0.1', '[::2]', 'localhost.example.com', '[::ffff:a00:1]', '1270.0.0.1'])
      expect(isLoopbackHost(host), host).toBe(false);
  });

  it('reads a systemd env file: comments, blank lines and quotes as systemd does', () => {
    expect(parseEnvFile('# c\n; c\n\nA=1\nB = "two words"\nC=\'x\'\nnot a line\nD=\n')).toEqual({
      A: '1',
      B: 'two words',
      C: 'x',
      D: '',
    });
  });

  it('run reads --env-file; the shell and the flags win over it', () => {
    expect(config('run --env-file /etc/scangate/runner.env')).toMatchObject({
      connectUrl: 'wss://scangate.example.com/v1/runners/connect',
      token: TOKEN,
      networks: ['10.20.0.0/16', '10.30.0.0/16'],
    });
    expect(
      config('run --env-file /etc/scangate/runner.env --network 10.40.0.0/16', {
        SCANGATE_SERVER: 'wss://other.example.com',
      }),
    ).toMatchObject({
      connectUrl: 'wss://other.example.com/v1/runners/connect',
      networks: ['10.40.0.0/16'],
    });
  });

  it("doctor reads the service's env file by default and says what the shell overrides", () => {
    const settings = doctorSettings('', { SCANGATE_NETWORKS: '10.99.0.0/16' }, '/etc/scangate/runner.env');
    expect(settings.envFile).toEqual({
      path: '/etc/scangate/runner.env',
      keys: ['SCANGATE_SERVER', 'SCANGATE_TOKEN_FILE', 'SCANGATE_NETWORKS'],
      explicit: false,
      overridden: ['SCANGATE_NETWORKS'],
    });
    expect(settings.server.connectUrl).toBe('wss://scangate.example.com/v1/runners/connect');
    expect(settings.token).toEqual({ source: 'file', path: '/etc/scangate/token', value: TOKEN });
    // No default file on this host: nothing read, no problem.
    expect(doctorSettings('').envFile).toBeUndefined();
  });

  it('doctor collects every problem instead of stopping at the first', () => {
    const settings = doctorSettings(
      '--server ws://10.0.0.5 --token-file /missing --network 10.0.0.1/8 --network fd00::/8 --network nope --grace soon',
    );
    expect(settings.server.problem).toMatch(/not loopback/);
    expect(settings.token.problem).toBe('--token-file /missing does not exist');
    expect(settings.networks.declared).toEqual(['fd00::/8']);
    expect(settings.networks.problems).toHaveLength(2);
    expect(settings.other).toEqual([expect.stringMatching(/--grace must be/)]);
  });

  it('refuses a malformed token', () => {
    const r = parse('run --server ws://127.0.0.1 --network 127.0.0.0/8', { SCANGATE_RUNNER_TOKEN: 'short' });
    expect(!r.ok && r.message).toMatch(/16-512 printable/);
  });
});
