import { afterAll, describe, expect, it } from 'vitest';
import { LinkRelay, useStack } from '../helpers/e2e.ts';

/**
 * The link between runner and edge failing under a running scan: the edge restarted (same state), and the
 * connection cut while the scan finishes. In both, the result arrives whole, once.
 */
const stack = useStack();

/** Every output event of a finished scan, from its SSE replay: seqs must be 1..n with none twice. */
async function outputEvents(token: string, id: string): Promise<Array<{ seq: number; data: string }>> {
  const res = await fetch(`${stack.url}/v1/scans/${id}/events`, { headers: { authorization: `Bearer ${token}` } });
  const text = await res.text(); // the stream ends after `finished` for an ended scan
  return text
    .split('\n\n')
    .filter((block) => block.includes('event: output'))
    .map((block) => JSON.parse(block.split('\n').find((l) => l.startsWith('data: '))!.slice(6)) as { seq: number; data: string });
}

function expectWholeOnce(scan: any, outputs: Array<{ seq: number }>) {
  expect(scan.status).toBe('succeeded');
  expect(scan.exitCode).toBe(0);
  expect(scan.output.match(/Starting Nmap/g)).toHaveLength(1);
  expect(scan.output.match(/Nmap done/g)).toHaveLength(1);
  expect(outputs.map((o) => o.seq)).toEqual(outputs.map((_, i) => i + 1));
  expect(scan.report.stats.hostsUp).toBe(1);
}

const relays: LinkRelay[] = [];
afterAll(async () => {
  for (const relay of relays) await relay.stop();
});

describe('link faults (real wrangler dev, real runner, real nmap)', () => {
  it('wrangler dev restarted mid-scan: the runner reconnects and the output and result arrive complete, nothing twice', async () => {
    const { proc } = await stack.readyRunner('restart-runner');
    const token = await stack.mintToken('scan');
    // ~6 s, with output (-v) and progress lines while it runs.
    const created = await stack.api(token, 'POST', '/v1/scans', { target: '127.0.0.1', args: '-sT -v -p 1-60 --scan-delay 100ms --max-retries 0' });
    const id = created.body.scan.id as string;
    await stack.waitForScan(token, id, (s) => s.status === 'running' && s.outputBytes > 0);

    await stack.restartEdge();
    const scan = await stack.waitForScan(token, id, (s) => ['succeeded', 'failed', 'cancelled'].includes(s.status), 60_000);
    expectWholeOnce(scan, await outputEvents(token, id));
    // The runner saw its link go and come back, and resent what was not acknowledged.
    expect(proc.log).toMatch(/"event":"link\.closed"/);
    // …and the edge went away while nmap was still running, not after.
    expect(proc.log.indexOf('"event":"link.closed"')).toBeLessThan(proc.log.indexOf(`"event":"job.finished","jobId":"${id}"`));
    expect(proc.log.match(/"event":"link\.ready"/g)!.length).toBeGreaterThanOrEqual(2);
  });

  it('the link drops while the scan finishes: the result is delivered after the runner reconnects', async () => {
    const relay = new LinkRelay(stack.port);
    await relay.start();
    relays.push(relay);
    const { proc, id: runnerId } = await stack.readyRunner('relayed-runner', { server: `ws://127.0.0.1:${relay.port}` });
    const token = await stack.mintToken('scan');
    const created = await stack.api(token, 'POST', '/v1/scans', { target: '127.0.0.1', args: '-sT -v -p 1-30 --scan-delay 100ms --max-retries 0' });
    const id = created.body.scan.id as string;
    await stack.waitForScan(token, id, (s) => s.status === 'running' && s.outputBytes > 0);

    relay.cut();
    // nmap finishes on the runner while the edge cannot hear it.
    await proc.waitFor(new RegExp(`"event":"job\\.finished","jobId":"${id}"`), 30_000);
    const during = (await stack.api(token, 'GET', `/v1/scans/${id}`)).body.scan;
    expect(during.status).toBe('running');
    expect((await stack.api(stack.admin, 'GET', '/v1/runners')).body.runners.find((r: any) => r.id === runnerId).online).toBe(false);

    relay.heal();
    const scan = await stack.waitForScan(token, id, (s) => s.status !== 'running', 30_000);
    expectWholeOnce(scan, await outputEvents(token, id));
  });
});
