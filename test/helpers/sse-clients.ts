/**
 * Many SSE clients on scan event streams, each keeping every event it got and when: the load bench
 * (bench/sse-load.ts) and the fan-out e2e test (test/e2e/sse-fanout.e2e.test.ts) share it. No test framework here.
 */
import { sseEvents, textChunks } from '../../scripts/cli/sse.ts';

export interface ReceivedEvent {
  id: number;
  event: string;
  data: string;
  /** performance.now() when the client had the whole event. */
  at: number;
}

export interface SseClient {
  /** The HTTP status of the stream's response (0 when the connection failed). */
  status: number;
  /** performance.now() when the response headers came (the client is subscribed from then on). */
  connectedAt: number;
  events: ReceivedEvent[];
  /** Why the stream failed, if it did. */
  failure: string | undefined;
  /** Settles when the stream ended (after `finished`), failed, or was stopped. */
  done: Promise<void>;
  stop(): void;
}

/** Opens GET /v1/scans/:id/events as `token` and records every event until `finished` (or stop()). */
export function watchScan(baseUrl: string, token: string, scanId: string): SseClient {
  const abort = new AbortController();
  const client: SseClient = {
    status: 0,
    connectedAt: Number.NaN,
    events: [],
    failure: undefined,
    done: Promise.resolve(),
    stop: () => abort.abort(),
  };
  client.done = (async () => {
    try {
      const res = await fetch(`${baseUrl}/v1/scans/${scanId}/events`, {
        headers: { authorization: `Bearer ${token}` },
        signal: abort.signal,
      });
      client.status = res.status;
      client.connectedAt = performance.now();
      if (!res.ok || !res.body) {
        client.failure = `${res.status} ${(await res.text()).slice(0, 200)}`;
        return;
      }
      for await (const e of sseEvents(textChunks(res.body))) {
        client.events.push({ id: Number(e.id), event: e.event, data: e.data, at: performance.now() });
        if (e.event === 'finished') break;
      }
      abort.abort(); // the edge closes the stream after `finished`; this only frees the socket at once
    } catch (e) {
      if (!abort.signal.aborted) client.failure = String((e as Error).message);
    }
  })();
  return client;
}

/** Every event of an ended scan, from a fresh replay: what each client should have got, once each, in order. */
export async function replayOf(baseUrl: string, token: string, scanId: string): Promise<ReceivedEvent[]> {
  const client = watchScan(baseUrl, token, scanId);
  await client.done;
  if (client.failure) throw new Error(`replay of ${scanId}: ${client.failure}`);
  return client.events;
}

export interface Delivery {
  /** Events of the replay a client never got. */
  lost: number;
  /** Events a client got more than once. */
  duplicated: number;
  /** Events a client got after a later one. */
  outOfOrder: number;
  /** Events whose data differ from the replay's. */
  altered: number;
}

/** How one client's events compare with the replay: all zero when it got each event exactly once, in order, intact. */
export function compareWithReplay(got: readonly ReceivedEvent[], replay: readonly ReceivedEvent[]): Delivery {
  const expected = new Map(replay.map((e) => [e.id, e]));
  const seen = new Set<number>();
  const delivery: Delivery = { lost: 0, duplicated: 0, outOfOrder: 0, altered: 0 };
  let last = -Infinity;
  for (const e of got) {
    if (seen.has(e.id)) delivery.duplicated++;
    seen.add(e.id);
    if (e.id <= last) delivery.outOfOrder++;
    last = Math.max(last, e.id);
    const want = expected.get(e.id);
    if (!want || want.event !== e.event || want.data !== e.data) delivery.altered++;
  }
  for (const id of expected.keys()) if (!seen.has(id)) delivery.lost++;
  return delivery;
}

export function sumDeliveries(all: readonly Delivery[]): Delivery {
  return all.reduce(
    (sum, d) => ({
      lost: sum.lost + d.lost,
      duplicated: sum.duplicated + d.duplicated,
      outOfOrder: sum.outOfOrder + d.outOfOrder,
      altered: sum.altered + d.altered,
    }),
    { lost: 0, duplicated: 0, outOfOrder: 0, altered: 0 },
  );
}
