import { beforeAll, describe, expect, it } from 'vitest';
import { useBannerServer } from '../../test/helpers/banner-server.ts';
import { runCli } from '../../test/helpers/cli.ts';
import { useStack } from '../../test/helpers/e2e.ts';

/** The `scangate` CLI as a person runs it (its bin, with the Node gate in front) against the real stack. */
const stack = useStack();
const banner = useBannerServer();
let scanToken = '';

beforeAll(async () => {
  await stack.readyRunner('cli-runner');
  scanToken = await stack.mintToken('scan', 'cli-user');
}, 60_000);

const cli = (args: string[], token = scanToken) => runCli(stack, token, args);

describe('scangate CLI', () => {
  it('help, --help, help <command> and <command> --help print usage and exit 0', async () => {
    for (const args of [['help'], ['--help'], ['-h']]) {
      const out = await cli(args);
      expect(out.code).toBe(0);
      expect(out.stdout).toMatch(/^usage: scangate <command>/);
      for (const command of ['scan', 'get', 'list', 'cancel', 'runners', 'breakers', 'tokens create'])
        expect(out.stdout).toContain(`\n  ${command}`);
      expect(out.stdout).toContain('SCANGATE_HOME');
    }
    for (const args of [
      ['help', 'scan'],
      ['scan', '--help'],
    ]) {
      const out = await cli(args);
      expect(out.code).toBe(0);
      expect(out.stdout).toMatch(/^usage: scangate scan <target…>/);
      expect(out.stdout).toMatch(/quick\s+Top 100 TCP ports/);
    }
    const unknown = await cli(['help', 'frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('run `scangate help` for the list');
    const none = await cli([]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/^usage: scangate/);
  });

  it('nmap options typed loose point to --args with the command meant, not to `--`', async () => {
    for (const args of [
      ['scan', '127.0.0.5', '-p', '80'],
      ['scan', '127.0.0.5', '--', '-p', '80'],
    ]) {
      const out = await cli(args);
      expect(out.code).toBe(2);
      expect(out.stderr.trim()).toBe(
        'scangate: nmap options go in one quoted --args value: scangate scan 127.0.0.5 --args "-p 80"',
      );
    }
    const mixed = await cli(['scan', '127.0.0.5', '--template', 'quick', '-sV', '-p', '22,80', '--json']);
    expect(mixed.stderr).toContain('scangate scan 127.0.0.5 --template quick --json --args "-sV -p 22,80"');
    // Nothing was submitted.
    expect((await stack.api(scanToken, 'GET', '/v1/scans')).body.scans).toEqual([]);
  });

  it('words the edge’s errors for the CLI: commands to type, not HTTP routes or MCP tool names', async () => {
    const missing = await cli(['get', 'scan_doesnotexist1']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(
      /error \(not_found\): No scan scan_doesnotexist1\n {2}what to do: run `scangate list`/,
    );

    const unknownOption = await cli(['scan', '127.0.0.1', '--args', '--frobnicate']);
    expect(unknownOption.stderr).toMatch(
      /error \(validation_error\): Unknown or unsupported option "?--frobnicate"?\n/,
    );
    expect(unknownOption.stderr).toContain('`scangate help scan`');

    const intrusive = await cli(['scan', '127.0.0.1', '--args', '-sT -p 22 --script vuln']);
    expect(intrusive.stderr).toMatch(/error \(validation_error\)/);

    const notAdmin = await cli(['runners']);
    expect(notAdmin.stderr).toMatch(/error \(forbidden\).*\n {2}what to do: `scangate runners` needs an admin token/);

    const badToken = await cli(['list'], 'sgt_0notavalidtokennotavalidtokennotavalidtoken1');
    expect(badToken.stderr).toMatch(/error \(unauthorized\).*\n {2}what to do: check the token: pass --token/);

    for (const out of [missing, unknownOption, intrusive, notAdmin, badToken]) {
      expect(out.stderr).not.toMatch(/\/v1\/|list_templates|scanner_info|nmap_scan|Bearer/);
    }
  });

  it('shows the policy’s template warnings without --json, once', async () => {
    const out = await cli(['scan', '127.0.0.1', '--template', 'quick', '--args', `-sT -p ${banner.port()}`]);
    expect(out.code).toBe(0);
    const warning = `warning: -p ${banner.port()} replaces --top-ports 100 of template quick`;
    expect(out.stderr).toContain(warning);
    expect(out.stderr.split(warning)).toHaveLength(2);
    expect(out.stdout).toMatch(new RegExp(`${banner.port()}/tcp\\s+open`));
    const id = out.stdout.match(/scan (scan_\S+):/)![1]!;
    expect((await cli(['get', id])).stdout).toContain(warning);
  });

  it('get on a running scan shows its progress; cancel stops it', async () => {
    const started = await stack.api(scanToken, 'POST', '/v1/scans', {
      target: '127.0.0.1',
      args: '-sT -p 1-3000 --scan-delay 20ms',
    });
    const id = started.body.scan.id as string;
    await stack.waitForScan(scanToken, id, (scan) => scan.status === 'running' && scan.progress !== null, 60_000);
    const running = await cli(['get', id]);
    expect(running.code).toBe(0);
    expect(running.stdout).toMatch(new RegExp(`scan ${id}: running\\n.*\\n {2}progress \\[[#.]{30}\\] +\\d+%`));
    const cancelled = await cli(['cancel', id]);
    expect(cancelled.stdout).toContain(`scan ${id}: cancel requested`);
    await stack.waitForScan(scanToken, id, (scan) => scan.status === 'cancelled', 30_000);
    expect((await cli(['get', id])).stdout).not.toContain('progress [');
  }, 90_000);
});
