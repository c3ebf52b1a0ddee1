import { createServer, type AddressInfo, type Server } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { useStack } from '../helpers/e2e.ts';
import { compareWithReplay, replayOf, watchScan, type SseClient } from '../helpers/sse-clients.ts';

/**
 * Many readers of one scan's event stream (the property bench/sse-load.ts measures at 500): 50 concurrent clients,
 * half subscribed before the scan's output starts and half joining while it streams (history, then live), each get
 * every event exactly once, in order, intact, and the stream ends with `finished`. Real wrangler dev, runner, nmap.
 */
const stack = useStack();
const servers: Server[] = [];
afterAll(() => {
  for (const s of servers) s.close();
});

async function openPort(): Promise<number> {
  // nmap's connect probe resets the connection at once: the reset is expected, not an error of the test.
  const server = createServer((socket) => socket.on('error', () => {}).end());
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

describe('SSE fan-out (real wrangler dev, real runner, real nmap)', () => {
  it('50 concurrent clients, early and late, each get every event of the scan exactly once, in order', async () => {
    await stack.readyRunner('fanout-runner');
    const token = await stack.mintToken('scan');
    const port = await openPort();
    // ~3 s of probes with output (-v) and progress lines, the open port last (-r).
    const created = await stack.api(token, 'POST', '/v1/scans', {
      target: '127.0.0.1',
      args: `-sT -v -r --max-retries 0 --scan-delay 100ms -p 1-20,${port}`,
    });
    expect(created.status, JSON.stringify(created.body)).toBe(202);
    const id = created.body.scan.id as string;

    const early: SseClient[] = Array.from({ length: 25 }, (_, i) =>
      watchScan(stack.url, i % 2 ? stack.admin : token, id),
    );
    // The late half joins once output is flowing: each starts with the stored history and turns live.
    await stack.waitForScan(
      token,
      id,
      (s) => s.outputBytes > 0 || ['succeeded', 'failed', 'cancelled'].includes(s.status),
    );
    const late: SseClient[] = Array.from({ length: 25 }, (_, i) =>
      watchScan(stack.url, i % 2 ? stack.admin : token, id),
    );
    const clients = [...early, ...late];
    await Promise.all(clients.map((c) => c.done));

    const replay = await replayOf(stack.url, token, id);
    expect(replay.at(-1)).toMatchObject({ event: 'finished' });
    expect(JSON.parse(replay.at(-1)!.data).status).toBe('succeeded');
    expect(replay.some((e) => e.event === 'output' && e.data.includes(`Discovered open port ${port}/tcp`))).toBe(true);
    for (const [i, client] of clients.entries()) {
      expect(client.failure, `client ${i}`).toBeUndefined();
      expect(client.status, `client ${i}`).toBe(200);
      expect(compareWithReplay(client.events, replay), `client ${i}`).toEqual({
        lost: 0,
        duplicated: 0,
        outOfOrder: 0,
        altered: 0,
      });
    }
  }, 90_000);
});
