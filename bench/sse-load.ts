/**
 * SSE fan-out under load: CLIENTS concurrent clients on the event streams of SCANS scans, through the real Worker
 * and Coordinator (wrangler dev), a real runner and real nmap scanning 127.0.0.1, where this bench listens on one
 * port. The scans wait in the queue behind blocker scans until every client is subscribed (it has the `queued`
 * event); then the blockers are cancelled, so every later event is live for every client, however slow the
 * machine. nmap probes the bench's port last (-r); the bench notes when nmap connects, and each client when the
 * "Discovered open port" line reaches it.
 *
 * Reports: clients connected, events each received, events lost, doubled, out of order or altered against a replay
 * of the ended scan (goal 0), delivery latency (the listener's accept → each client; and the spread of one event
 * over all clients), and 5xx answers (goal 0). Bounded: a fixed number of clients and scans, 60 s at most. Loopback.
 */
import { createServer, type AddressInfo, type Server } from 'node:net';
import { compareWithReplay, replayOf, sumDeliveries, watchScan, type SseClient } from '../test/helpers/sse-clients.ts';
import { Stack } from '../test/helpers/stack.ts';
import { fmt, isMain, percentile, printRows, type BenchRow } from './lib.ts';

const CLIENTS = Number(process.env.BENCH_SSE_CLIENTS ?? 500);
const SCANS = Number(process.env.BENCH_SSE_SCANS ?? 2);
const BUDGET_MS = 60_000;

/** A loopback listener that remembers when the first connection came (nmap's connect probe). */
async function listener(): Promise<{ port: number; server: Server; firstAccept: () => number }> {
  let first = Number.NaN;
  const server = createServer((socket) => {
    if (Number.isNaN(first)) first = performance.now();
    socket.on('error', () => {});
    socket.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, server, firstAccept: () => first };
}

export async function run(): Promise<BenchRow[]> {
  const began = performance.now();
  const stack = new Stack({});
  const servers: Server[] = [];
  const clients: Array<{ client: SseClient; scan: number; openedAt: number }> = [];
  try {
    await stack.start();
    await stack.readyRunner('bench-sse', { maxConcurrency: SCANS });
    // One token may hold every slot (the blockers), and queue SCANS scans.
    const policy = await stack.api(stack.admin, 'PUT', '/v1/policy', {
      perToken: { maxSlotSharePercent: 100, maxConcurrentScans: SCANS, maxQueuedScans: Math.max(8, SCANS) },
    });
    if (policy.status !== 200) throw new Error(`policy: ${policy.status} ${JSON.stringify(policy.body).slice(0, 300)}`);
    const owner = await stack.mintToken('scan', 'bench-sse-owner');
    const statuses: number[] = [];
    const blockers: string[] = [];
    for (let s = 0; s < SCANS; s++) {
      const blocker = await stack.api(owner, 'POST', '/v1/scans', {
        target: '127.0.0.1',
        args: '-sT -p 1-65535 --scan-delay 1s --max-retries 0',
        timeoutSec: 300,
      });
      statuses.push(blocker.status);
      if (blocker.status !== 202)
        throw new Error(`blocker refused: ${blocker.status} ${JSON.stringify(blocker.body).slice(0, 300)}`);
      blockers.push(blocker.body.scan.id);
      await stack.waitForScan(owner, blocker.body.scan.id, (scan) => scan.status === 'running');
    }
    const scans: Array<{ id: string; port: number; firstAccept: () => number }> = [];
    const subscribeFrom = performance.now();
    const perScan = Math.ceil(CLIENTS / SCANS);
    for (let s = 0; s < SCANS; s++) {
      const l = await listener();
      servers.push(l.server);
      const created = await stack.api(owner, 'POST', '/v1/scans', {
        target: '127.0.0.1',
        args: `-sT -v -r --max-retries 0 --scan-delay 100ms -p 1-30,${l.port}`,
      });
      statuses.push(created.status);
      if (created.status !== 202 || created.body.scan.status !== 'queued')
        throw new Error(`scan not queued: ${created.status} ${JSON.stringify(created.body).slice(0, 300)}`);
      scans.push({ id: created.body.scan.id, port: l.port, firstAccept: l.firstAccept });
      // Half the clients read as the owner, half as an admin: both paths of the stream's authorisation.
      for (let i = 0; i < perScan && clients.length < CLIENTS; i++) {
        clients.push({
          client: watchScan(stack.url, i % 2 ? stack.admin : owner, created.body.scan.id),
          scan: s,
          openedAt: performance.now(),
        });
      }
    }
    const budget = setTimeout(
      () => {
        for (const c of clients) c.client.stop();
      },
      Math.max(1000, BUDGET_MS - (performance.now() - began)),
    );
    // Every client subscribed (it has the stored `queued` event, or it failed): release the queue.
    while (
      clients.some((c) => c.client.events.length === 0 && !c.client.failure && c.client.status < 400) &&
      performance.now() - began < BUDGET_MS
    ) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const subscribed = performance.now();
    for (const id of blockers) statuses.push((await stack.api(owner, 'POST', `/v1/scans/${id}/cancel`)).status);
    await Promise.all(clients.map((c) => c.client.done));
    clearTimeout(budget);
    statuses.push(...clients.map((c) => c.client.status));

    const replays = await Promise.all(scans.map((s) => replayOf(stack.url, owner, s.id)));
    const deliveries = clients.map((c) => compareWithReplay(c.client.events, replays[c.scan]!));
    const total = sumDeliveries(deliveries);
    const connected = clients.filter((c) => c.client.status === 200).length;
    const counts = clients.map((c) => c.client.events.length);

    // nmap's connect at the listener → client: for clients subscribed before it (all of them, unless one failed).
    const endToEnd: number[] = [];
    let subscribedBefore = 0;
    for (const c of clients) {
      const scan = scans[c.scan]!;
      const accepted = scan.firstAccept();
      const hit = c.client.events.find(
        (e) => e.event === 'output' && e.data.includes(`Discovered open port ${scan.port}/tcp`),
      );
      if (!hit || !(c.client.connectedAt < accepted)) continue;
      subscribedBefore++;
      endToEnd.push(hit.at - accepted);
    }
    // The spread of each live event over the clients that had it live: arrival minus its first arrival anywhere.
    const spread: number[] = [];
    for (let s = 0; s < scans.length; s++) {
      const mine = clients.filter((c) => c.scan === s);
      for (const event of replays[s]!) {
        const arrivals = mine
          .map((c) => c.client.events.find((e) => e.id === event.id)?.at)
          .filter((at): at is number => at !== undefined && at > subscribed);
        if (arrivals.length < mine.length) continue; // not live for everyone
        const first = Math.min(...arrivals);
        spread.push(...arrivals.map((at) => at - first));
      }
    }
    const connectMs = clients.filter((c) => c.client.status === 200).map((c) => c.client.connectedAt - c.openedAt);
    const serverErrors = statuses.filter((s) => s >= 500).length;
    const failures = clients.filter((c) => c.client.failure);
    if (failures.length)
      console.error(`sse-load: ${failures.length} clients failed, e.g. ${failures[0]!.client.failure}`);
    const bench = 'sse-load';
    const lossless = total.lost + total.duplicated + total.outOfOrder + total.altered;
    return [
      {
        bench,
        metric: `${CLIENTS} SSE clients on ${SCANS} scans of 127.0.0.1: connected (200)`,
        value: String(connected),
        goal: String(CLIENTS),
        met: connected === CLIENTS,
      },
      {
        bench,
        metric: '  connect p50 / p99 (ms)',
        value: `${fmt(percentile(connectMs, 50))} / ${fmt(percentile(connectMs, 99))}`,
      },
      {
        bench,
        metric: '  events per client: min / max (replay has)',
        value: `${Math.min(...counts)} / ${Math.max(...counts)} (${replays.map((r) => r.length).join(', ')})`,
      },
      {
        bench,
        metric: '  lost / doubled / out of order / altered',
        value: `${total.lost} / ${total.duplicated} / ${total.outOfOrder} / ${total.altered}`,
        goal: '0',
        met: lossless === 0,
      },
      {
        bench,
        metric: `  nmap's connect → client, p50 / p99 (ms; ${subscribedBefore} clients live)`,
        value: `${fmt(percentile(endToEnd, 50))} / ${fmt(percentile(endToEnd, 99))}`,
      },
      {
        bench,
        metric: '  one event over all clients, spread p50 / p99 (ms)',
        value: `${fmt(percentile(spread, 50))} / ${fmt(percentile(spread, 99))}`,
      },
      { bench, metric: '  5xx answers', value: String(serverErrors), goal: '0', met: serverErrors === 0 },
      {
        bench,
        metric: '  time to subscribe every client; wall time, stack start to last event (s)',
        value: `${fmt((subscribed - subscribeFrom) / 1000)}; ${fmt((performance.now() - began) / 1000)}`,
      },
    ];
  } finally {
    for (const c of clients) c.client.stop();
    for (const server of servers) server.close();
    await stack.stop();
  }
}

if (isMain(import.meta.url)) printRows(await run());
