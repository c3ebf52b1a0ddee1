import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.ts';
import { useStack } from '../helpers/e2e.ts';

/**
 * Scan history end to end (real wrangler dev, real runner, real nmap on loopback): a listener is scanned, stopped,
 * scanned again. Our exports are read by consumers nobody here wrote, from Debian: nmap's own `ndiff` reports the
 * port gone, and `python3-libnmap` parses the XML and agrees with our report and CSV on every host and port. The
 * CLI's `diff` and `schedules` commands drive the same history as a person would.
 */
const stack = useStack();
const run = promisify(execFile);
let token = '';
const servers: Server[] = [];

async function listen(host: string): Promise<Server> {
  // nmap's connect scan resets the connection: the reset is expected, not an error of this test.
  const server = createServer((socket) => socket.on('error', () => {}).end());
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, host, resolve));
  servers.push(server);
  return server;
}
const portOf = (server: Server) => (server.address() as { port: number }).port;
const close = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()));

async function scan(target: string, args: string): Promise<any> {
  const res = await stack.api(token, 'POST', '/v1/scans', { target, args, wait: 60 });
  expect(res.status).toBe(202);
  expect(res.body.scan.status).toBe('succeeded');
  return res.body.scan;
}

async function xmlFile(id: string): Promise<string> {
  const res = await fetch(`${stack.url}/v1/scans/${id}/xml`, { headers: { authorization: `Bearer ${token}` } });
  expect(res.status).toBe(200);
  const path = join(stack.dir, `${id}.xml`);
  writeFileSync(path, Buffer.from(await res.arrayBuffer()));
  return path;
}

const cli = (args: string[], as = token) => runCli(stack, as, args);

beforeAll(async () => {
  await stack.readyRunner('e2e-history');
  token = await stack.mintToken('scan', 'e2e-history-user');
}, 60_000);

afterAll(async () => {
  for (const server of servers) if (server.listening) await close(server);
});

describe('scan history with real nmap', () => {
  it('ndiff and python3-libnmap read our XML; the diff, the CSV and `scangate diff` agree that the port closed', async () => {
    const host = '127.0.0.23';
    const listener = await listen(host);
    const port = portOf(listener);
    const args = `-sT -p ${port},${port + 1}`;
    const before = await scan(host, args);
    await close(listener);
    const after = await scan(host, args);

    // nmap's ndiff, on two exports (no -sV or scripts: ndiff 7.93 crashes comparing script output).
    const ndiff = await run('ndiff', [await xmlFile(before.id), await xmlFile(after.id)]).catch((e) => e);
    expect(ndiff.code).toBe(1); // 1: the scans differ
    expect(ndiff.stdout).toMatch(new RegExp(`^-${port}/tcp\\s+open\\b`, 'm'));
    expect(ndiff.stdout).toMatch(new RegExp(`^\\+${port}/tcp\\s+closed\\b`, 'm'));

    // python3-libnmap parses the export; every host and port agrees with our report and our CSV.
    const py = `
import json, sys
from libnmap.parser import NmapParser
r = NmapParser.parse_fromfile(sys.argv[1])
print(json.dumps([[h.address, h.status, [[s.port, s.protocol, s.state, s.service] for s in h.services]] for h in r.hosts]))
`;
    const parsed = JSON.parse((await run('/usr/bin/python3', ['-c', py, await xmlFile(after.id)])).stdout);
    const ours = after.report.hosts.map((h: any) => [
      h.addresses[0].addr,
      h.status,
      h.ports.map((p: any) => [p.port, p.protocol, p.state, p.service?.name ?? '']),
    ]);
    expect(parsed).toEqual(ours);
    const csv = await fetch(`${stack.url}/v1/scans/${after.id}/export?format=csv`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const rows = (await csv.text())
      .trimEnd()
      .split('\r\n')
      .slice(1)
      .map((l) => l.split(','));
    expect(rows.map((r) => [r[0], Number(r[1]), r[2], r[3]])).toEqual(
      parsed.flatMap(([address, , ports]: [string, string, Array<[number, string, string]>]) =>
        ports.map(([p, proto, state]) => [address, p, proto, state]),
      ),
    );

    // Ours: the scan says what changed, the diff names the port, the CLI prints it.
    expect(after.changes).toMatchObject({ since: before.id, summary: `Since ${before.id}: 1 port closed.` });
    const diff = await stack.api(token, 'GET', `/v1/scans/${after.id}/diff`);
    expect(diff.body.diff.ports.closed).toEqual([{ host, port, protocol: 'tcp', from: 'open', to: 'closed' }]);
    const printed = await cli(['diff', after.id]);
    expect(printed.code).toBe(0);
    expect(printed.stdout).toContain(`Since ${before.id}: 1 port closed.`);
    expect(printed.stdout).toMatch(new RegExp(`closed\\s+${host.replaceAll('.', '\\.')} ${port}/tcp\\s+open → closed`));
  });

  it('a schedule made and run from the CLI is a normal scan, and its next run is compared with it', async () => {
    const host = '127.0.0.24';
    const listener = await listen(host);
    const port = portOf(listener);
    const made = await cli(
      ['schedules', 'create', 'e2e-hourly', host, '--every', '3600', '--args', `-sT -p ${port}`],
      stack.admin,
    );
    expect(made.stderr).toBe('');
    expect(made.stdout).toMatch(/e2e-hourly\s+active\s+every 3600 s\s+127\.0\.0\.24/);
    const first = await cli(['schedules', 'run', 'e2e-hourly'], stack.admin);
    const firstId = /started scan (scan_[A-Za-z0-9_-]+)/.exec(first.stdout)?.[1];
    expect(firstId, first.stdout + first.stderr).toBeDefined();
    const firstScan = await stack.waitForScan(stack.admin, firstId!, (s) => s.status === 'succeeded', 60_000);
    expect(firstScan).toMatchObject({
      scheduleId: expect.stringMatching(/^sch_/),
      requestedBy: { name: 'schedule e2e-hourly' },
    });
    await close(listener);
    const second = await cli(['schedules', 'run', 'e2e-hourly'], stack.admin);
    const secondId = /started scan (scan_[A-Za-z0-9_-]+)/.exec(second.stdout)![1]!;
    const secondScan = await stack.waitForScan(stack.admin, secondId, (s) => s.status === 'succeeded', 60_000);
    expect(secondScan.changes).toMatchObject({ since: firstId, counts: { closed: 1 } });
    const listed = await cli(['schedules', 'list'], stack.admin);
    expect(listed.stdout).toContain(secondId);
    // A scan token is not an admin: the CLI says so with the fix.
    const refused = await cli(['schedules', 'list'], token);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('forbidden');
  });
});
