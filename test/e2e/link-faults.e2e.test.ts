import { createServer, type Server } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { LinkRelay, useStack } from '../helpers/e2e.ts';

/**
 * The link between runner and edge failing under a running scan: the edge restarted (same state), the connection
 * cut while the scan finishes, and cut again and again while output streams. In each, the result arrives whole, once.
 */
const stack = useStack();

/** Every output event of a finished scan, from its SSE replay: seqs must be 1..n with none twice. */
async function outputEvents(token: string, id: string): Promise<Array<{ seq: number; data: string }>> {
  const res = await fetch(`${stack.url}/v1/scans/${id}/events`, { headers: { authorization: `Bearer ${token}` } });
  const text = await res.text(); // the stream ends after `finished` for an ended scan
  return text
    .split('\n\n')
    .filter((block) => block.includes('event: output'))
    .map(
      (block) =>
        JSON.parse(
          block
            .split('\n')
            .find((l) => l.startsWith('data: '))!
            .slice(6),
        ) as { seq: number; data: string },
    );
}

function expectWholeOnce(scan: any, outputs: Array<{ seq: number }>) {
  expect(scan.status).toBe('succeeded');
  expect(scan.exitCode).toBe(0);
  expect(scan.output.match(/Starting Nmap/g)).toHaveLength(1);
  expect(scan.output.match(/Nmap done/g)).toHaveLength(1);
  expect(outputs.map((o) => o.seq)).toEqual(outputs.map((_, i) => i + 1));
  expect(scan.report.stats.hostsUp).toBe(1);
}

const TERMINAL = ['succeeded', 'failed', 'cancelled'];
const relays: LinkRelay[] = [];
const servers: Server[] = [];
afterAll(async () => {
  for (const relay of relays) await relay.stop();
  for (const server of servers) server.close();
});

/**
 * Listeners on every free port of a 600-port loopback window below the ephemeral range (nmap -v prints one
 * "Discovered open port" line for each as it finds it). Returns the window and the ports this test holds.
 */
async function openWindow(size = 600): Promise<{ first: number; last: number; ours: number[] }> {
  const first = 20_000 + (process.pid % 20) * size;
  const ours: number[] = [];
  for (let port = first; port < first + size; port++) {
    const server = createServer((socket) => socket.on('error', () => {}).end());
    const bound = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (bound) {
      servers.push(server);
      ours.push(port);
    }
  }
  return { first, last: first + size - 1, ours };
}

/** Resolves once `pattern` occurs `count` times in the runner's log. */
async function logged(proc: { log: string }, pattern: RegExp, count: number, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((proc.log.match(new RegExp(pattern, 'g'))?.length ?? 0) < count) {
    if (Date.now() > deadline)
      throw new Error(`${pattern} not logged ${count} times in ${timeoutMs} ms:\n${proc.log.slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('link faults (real wrangler dev, real runner, real nmap)', () => {
  it('wrangler dev restarted mid-scan: the runner reconnects and the output and result arrive complete, nothing twice', async () => {
    const { proc } = await stack.readyRunner('restart-runner');
    const token = await stack.mintToken('scan');
    // ~6 s, with output (-v) and progress lines while it runs.
    const created = await stack.api(token, 'POST', '/v1/scans', {
      target: '127.0.0.1',
      args: '-sT -v -p 1-60 --scan-delay 100ms --max-retries 0',
    });
    const id = created.body.scan.id as string;
    await stack.waitForScan(token, id, (s) => s.status === 'running' && s.outputBytes > 0);

    await stack.restartEdge();
    const scan = await stack.waitForScan(
      token,
      id,
      (s) => ['succeeded', 'failed', 'cancelled'].includes(s.status),
      60_000,
    );
    expectWholeOnce(scan, await outputEvents(token, id));
    // The runner saw its link go and come back, and resent what was not acknowledged.
    expect(proc.log).toMatch(/"event":"link\.closed"/);
    // …and the edge went away while nmap was still running, not after.
    expect(proc.log.indexOf('"event":"link.closed"')).toBeLessThan(
      proc.log.indexOf(`"event":"job.finished","jobId":"${id}"`),
    );
    expect(proc.log.match(/"event":"link\.ready"/g)!.length).toBeGreaterThanOrEqual(2);
  });

  it('the link drops while the scan finishes: the result is delivered after the runner reconnects', async () => {
    const relay = new LinkRelay(stack.port);
    await relay.start();
    relays.push(relay);
    const { proc, id: runnerId } = await stack.readyRunner('relayed-runner', {
      server: `ws://127.0.0.1:${relay.port}`,
    });
    const token = await stack.mintToken('scan');
    const created = await stack.api(token, 'POST', '/v1/scans', {
      target: '127.0.0.1',
      args: '-sT -v -p 1-30 --scan-delay 100ms --max-retries 0',
    });
    const id = created.body.scan.id as string;
    await stack.waitForScan(token, id, (s) => s.status === 'running' && s.outputBytes > 0);

    relay.cut();
    // nmap finishes on the runner while the edge cannot hear it.
    await proc.waitFor(new RegExp(`"event":"job\\.finished","jobId":"${id}"`), 30_000);
    const during = (await stack.api(token, 'GET', `/v1/scans/${id}`)).body.scan;
    expect(during.status).toBe('running');
    expect(
      (await stack.api(stack.admin, 'GET', '/v1/runners')).body.runners.find((r: any) => r.id === runnerId).online,
    ).toBe(false);

    relay.heal();
    const scan = await stack.waitForScan(token, id, (s) => s.status !== 'running', 30_000);
    expectWholeOnce(scan, await outputEvents(token, id));
  });

  it('the link is cut three times while output streams: every line arrives once, in order, nothing doubled', async () => {
    // The runners of the tests above go, so the scan can only go to the runner behind this relay.
    await Promise.all([...stack.procs].map((p) => p.stop('SIGTERM', 5000)));
    const relay = new LinkRelay(stack.port);
    await relay.start();
    relays.push(relay);
    const { proc } = await stack.readyRunner('cut-often-runner', { server: `ws://127.0.0.1:${relay.port}` });
    const token = await stack.mintToken('scan');
    const window = await openWindow();
    expect(window.ours.length).toBeGreaterThan(500);
    // ~15 s of steady output, a line per open port as nmap finds it, then the whole port table at once.
    const created = await stack.api(token, 'POST', '/v1/scans', {
      target: '127.0.0.1',
      args: `-sT -v -r --max-retries 0 --scan-delay 25ms -p ${window.first}-${window.last}`,
    });
    expect(created.status, JSON.stringify(created.body)).toBe(202);
    const id = created.body.scan.id as string;

    let bytes = 0;
    for (let cut = 1; cut <= 3; cut++) {
      // Each cut comes after more output reached the edge over the link the previous cut broke.
      const running = await stack.waitForScan(
        token,
        id,
        (s) => TERMINAL.includes(s.status) || (s.status === 'running' && s.outputBytes > bytes),
        60_000,
      );
      expect(running.status, `the scan ended before cut ${cut}: make it longer`).toBe('running');
      bytes = running.outputBytes;
      relay.cut();
      await logged(proc, /"event":"link\.closed"/, cut);
      // nmap keeps printing while the runner cannot send: the backlog goes out again with the new link.
      relay.heal();
      await logged(proc, /"event":"link\.ready"/, cut + 1);
    }
    // Every cut found nmap running, and every new link resent what the old one had not had acknowledged.
    const events = proc.log
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { event: string; runningJobs?: number; resending?: number });
    expect(
      events
        .filter((e) => e.event === 'link.closed')
        .slice(0, 3)
        .map((e) => e.runningJobs),
    ).toEqual([1, 1, 1]);
    expect(
      events
        .filter((e) => e.event === 'link.ready')
        .slice(1, 4)
        .map((e) => e.resending),
    ).toEqual([1, 1, 1]);
    const scan = await stack.waitForScan(token, id, (s) => TERMINAL.includes(s.status), 90_000);
    const outputs = await outputEvents(token, id);
    expectWholeOnce(scan, outputs);
    const discovered = [...scan.output.matchAll(/Discovered open port (\d+)\/tcp on 127\.0\.0\.1/g)].map((m) =>
      Number(m[1]),
    );
    expect(new Set(discovered).size).toBe(discovered.length);
    for (const port of window.ours) expect(discovered, `port ${port}`).toContain(port);
    expect(outputs.map((o) => o.data).join('')).toBe(scan.output);
  }, 150_000);
});
