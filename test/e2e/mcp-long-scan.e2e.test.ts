import { createServer, type Server } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useStack } from '../helpers/e2e.ts';
import { followLongScan, timeline } from '../helpers/long-scan.ts';

/**
 * A client whose per-request timeout is shorter than the scan (as hosted agent hosts abort a tool call after
 * ~60 s) follows a real nmap scan to its result through nmap_scan(waitSec) and wait_for_scan, and finds it with
 * list_scans after forgetting its id. Scaled down to fit the suite (10 s timeout, 4 s waits, a scan of at least
 * 25 s); bench/long-scan.ts runs the full-size version (60 s, 45 s, minutes).
 */
const stack = useStack();
let client: Client;
let listener: Server;
let port = 0;
const HOST = '127.0.0.6';

beforeAll(async () => {
  await stack.readyRunner('long-scan');
  const token = await stack.mintToken('scan', 'long-scan-agent');
  // nmap's connect scan resets the connection: the reset is expected, not an error of this test.
  listener = createServer((socket) => socket.on('error', () => {}).end());
  await new Promise<void>((resolve, reject) => listener.once('error', reject).listen(0, HOST, resolve));
  port = (listener.address() as { port: number }).port;
  client = new Client({ name: 'long-scan-e2e', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${stack.url}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    }),
  );
  await client.listTools(); // from here on, callTool validates structuredContent against each outputSchema
}, 90_000);

afterAll(async () => {
  await client?.close();
  await new Promise((resolve) => listener?.close(resolve));
});

describe('a scan longer than the client lets a call run', { timeout: 300_000 }, () => {
  it('is followed to its result with waits shorter than the timeout, and found again with list_scans', async () => {
    // One probe at a time, 100 ms apart: 250 ports take at least 25 s, whatever the machine's load.
    const args = `-sT -p 1-249,${port} --scan-delay 100ms --max-retries 0`;
    const followed = await followLongScan(client, { target: HOST, args }, { waitSec: 4, requestTimeoutMs: 10_000 });
    console.log(`long scan, 10 s client timeout, 4 s waits:\n${timeline(followed.steps)}`);
    const [start, ...rest] = followed.steps;
    expect(start).toMatchObject({
      tool: 'nmap_scan',
      status: expect.stringMatching(/^(?:queued|dispatched|running)$/),
    });
    expect(start!.text).toContain(`Next call: wait_for_scan {"scanId": "${followed.scanId}"}`);
    expect(rest.map((s) => s.tool)).toContain('list_scans');
    const waits = rest.filter((s) => s.tool === 'wait_for_scan');
    expect(waits.length).toBeGreaterThanOrEqual(2);
    expect(waits.at(-1)!.status).toBe('succeeded');
    for (const wait of waits.slice(0, -1)) expect(wait.text).toContain('Next call: wait_for_scan');
    // Every call came back within the client's timeout (one that did not would have thrown).
    expect(followed.result.structuredContent).toMatchObject({
      scanId: followed.scanId,
      status: 'succeeded',
      openPorts: [{ host: HOST, port }],
    });
  });
});
