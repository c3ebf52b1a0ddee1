import { describe, expect, it } from 'vitest';
import { parseCommandLine, type RunnerConfig } from './config.ts';

const TOKEN = 'srt_0123456789abcdef0123456789abcdef';
const files: Record<string, string> = { '/etc/scangate/token': `${TOKEN}\n` };
const readFile = (path: string) => {
  if (path in files) return files[path]!;
  throw Object.assign(new Error('nope'), { code: 'ENOENT' });
};

function parse(args: string, env: Record<string, string> = {}) {
  return parseCommandLine(args.split(' ').filter(Boolean), env, readFile);
}

function config(args: string, env: Record<string, string> = {}): RunnerConfig {
  const r = parse(args, env);
  if (!r.ok || r.command.kind !== 'run') throw new Error(r.ok ? r.command.kind : r.message);
  return r.command.config;
}

describe('scangate-runner command line', () => {
  it('reads run options with their defaults', () => {
    expect(config('run --server ws://127.0.0.1:8787 --token-file /etc/scangate/token --network 127.0.0.0/8 --network fd00::/8')).toEqual({
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
    ['run --server ws://lab.example.com --token-file /etc/scangate/token --network 127.0.0.0/8', /token in clear; use wss:\/\//],
    ['run --server http://127.0.0.1 --token-file /etc/scangate/token --network 127.0.0.0/8', /ws:\/\/ or wss:\/\//],
    ['run --server ws://127.0.0.1 --token-file /missing --network 127.0.0.0/8', /cannot read --token-file \/missing: ENOENT/],
    ['run --server ws://127.0.0.1 --token-file /etc/scangate/token --network 10.0.0.1/8', /host bits are set/],
    ['run --server ws://127.0.0.1 --token-file /etc/scangate/token --network 127.0.0.0/8 --max-concurrency 0', /--max-concurrency must be a whole number from 1 to 64/],
    ['run --server ws://127.0.0.1 --token-file /etc/scangate/token --network 127.0.0.0/8 --grace soon', /--grace must be/],
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

  it('refuses a malformed token', () => {
    const r = parse('run --server ws://127.0.0.1 --network 127.0.0.0/8', { SCANGATE_RUNNER_TOKEN: 'short' });
    expect(!r.ok && r.message).toMatch(/16-512 printable/);
  });
});
