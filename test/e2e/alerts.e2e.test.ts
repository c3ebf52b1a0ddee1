import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, createServer as createTcpServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../scripts/stack.ts';
import { SIGNATURE_HEADER, verifySignature } from '../../worker/domain/alerts/signing.ts';
import { runCli } from '../helpers/cli.ts';
import { useStack } from '../helpers/e2e.ts';

/**
 * Alerts end to end (issue 18): real wrangler dev (with wrangler.toml's global_fetch_strictly_public flag), a real
 * runner and real nmap on loopback, and a webhook receiver this test runs on 127.0.0.1. The receiver checks every
 * signature, answers 500 to the first delivery and sees it come back (retried on the backoff; its base is 200 ms
 * here through the Worker var, so nothing sleeps), and receives "port_opened" when a second scan of the same targets
 * finds a listener the first did not. A second receiver takes every request and never answers (attempts time out
 * after 90 s here): the first receiver's deliveries and retry still arrive within 30 s, so it holds up nobody.
 */
const stack = useStack({ ALLOW_LOOPBACK_WEBHOOKS: '1', ALERT_RETRY_BASE_MS: '200', ALERT_TIMEOUT_MS: '90000' });

interface Received {
  path: string;
  event: string;
  eventId: string;
  delivery: string;
  body: any;
  verified: Awaited<ReturnType<typeof verifySignature>>;
  answered: number;
}

class Receiver {
  readonly received: Received[] = [];
  secret = '';
  /** Secrets of other rules that post here, by request path (a rule's secret signs its own deliveries). */
  readonly secrets = new Map<string, string>();
  #failNext = 1;
  #server: Server | undefined;
  #waiters: Array<() => void> = [];
  port = 0;

  async start(): Promise<void> {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', async () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const verified = await verifySignature(
          this.secrets.get(req.url ?? '') ?? this.secret,
          req.headers[SIGNATURE_HEADER.toLowerCase()] as string | undefined,
          raw,
          Math.floor(Date.now() / 1000),
        );
        const answered = this.#failNext-- > 0 ? 500 : 200;
        this.received.push({
          path: req.url ?? '',
          event: String(req.headers['x-scangate-event']),
          eventId: String(req.headers['x-scangate-event-id']),
          delivery: String(req.headers['x-scangate-delivery']),
          body: JSON.parse(raw),
          verified,
          answered,
        });
        res.writeHead(answered).end();
        for (const wake of this.#waiters.splice(0)) wake();
      });
    });
    this.#server.listen(0, '127.0.0.1');
    await once(this.#server, 'listening');
    this.port = (this.#server.address() as AddressInfo).port;
  }

  /** Resolves when a received request satisfies `done` (each arrival re-checks; no polling). */
  async until(done: (r: Received[]) => Received | undefined, what: string, timeoutMs = 60_000): Promise<Received> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = done(this.received);
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(
          `receiver never saw ${what}: ${JSON.stringify(this.received.map((r) => [r.event, r.answered]))}`,
        );
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async stop(): Promise<void> {
    this.#server?.closeAllConnections();
    this.#server?.close();
  }
}

const receiver = new Receiver();
/** Takes each request and never answers it. */
const silent = createServer(() => {});
let silentHeard = 0;
silent.on('request', () => silentHeard++);
beforeAll(async () => {
  await receiver.start();
  silent.listen(0, '127.0.0.1');
  await once(silent, 'listening');
});
afterAll(async () => {
  await receiver.stop();
  silent.closeAllConnections();
  silent.close();
});

describe('alerts (real wrangler dev, runner, nmap and a loopback webhook receiver)', () => {
  it('signs every delivery, retries after a 500, and alerts port_opened when a later scan finds a new listener', async () => {
    await stack.readyRunner('alerts-runner');
    // Created first, so its delivery is first in line.
    const slow = await stack.api(stack.admin, 'POST', '/v1/alerts', {
      name: 'never answers',
      url: `http://127.0.0.1:${(silent.address() as AddressInfo).port}/hook`,
      events: ['scan.finished'],
    });
    expect(slow.status).toBe(201);
    const created = await stack.api(stack.admin, 'POST', '/v1/alerts', {
      name: 'loopback watch',
      url: `http://127.0.0.1:${receiver.port}/hook`,
      events: ['scan.finished', 'port_opened'],
      filters: { cidr: ['127.0.0.0/8'] },
    });
    expect(created.status).toBe(201);
    receiver.secret = created.body.secret;
    const ruleId = created.body.alert.id;

    const token = await stack.mintToken('scan');
    const port = await freePort();
    const scan = async () => {
      const res = await stack.api(token, 'POST', '/v1/scans', {
        target: '127.0.0.1',
        args: `-sT -p ${port}`,
        wait: 60,
      });
      expect(res.body.scan?.status, JSON.stringify(res.body)).toBe('succeeded');
      return res.body.scan;
    };

    // 1. Nothing listens: the scan finishes; its alert is refused once (500) and delivered on the retry.
    const first = await scan();
    const retried = await receiver.until(
      (all) => all.filter((r) => r.body.event?.scanId === first.id && r.event === 'scan.finished')[1],
      'the retry of the first scan.finished',
      30_000,
    );
    // The silent receiver was sent its delivery too (in the same alarm, in parallel), and is still holding it.
    if (silentHeard === 0) await once(silent, 'request');
    const attempts = receiver.received.filter((r) => r.eventId === retried.eventId);
    expect(attempts.map((r) => r.answered)).toEqual([500, 200]);
    expect(new Set(attempts.map((r) => r.delivery)).size).toBe(1);
    expect(attempts[1]!.body).toEqual(attempts[0]!.body);
    expect(receiver.received.some((r) => r.event === 'port_opened')).toBe(false);

    // 2. A listener appears on that port: the next scan of the same targets alerts port_opened.
    // nmap's connect scan resets the connection: that is expected, not an error of the test.
    const listener = createTcpServer((socket) => socket.on('error', () => {}).end());
    listener.listen(port, '127.0.0.1');
    await once(listener, 'listening');
    try {
      const second = await scan();
      const opened = await receiver.until(
        (all) => all.find((r) => r.event === 'port_opened' && r.body.event.scanId === second.id),
        'port_opened',
      );
      expect(opened.body).toMatchObject({
        version: 'scangate.alert.v1',
        rule: { id: ruleId, name: 'loopback watch' },
        event: { type: 'port_opened', host: '127.0.0.1', port, protocol: 'tcp', scanId: second.id },
      });
      expect(opened.body.event.title).toBe(`Port ${port}/tcp opened on 127.0.0.1 (was closed)`);
    } finally {
      listener.close();
    }

    // Every request the receiver got carried a valid, fresh signature.
    for (const r of receiver.received) expect(r.verified, `${r.event} ${r.delivery}`).toMatchObject({ ok: true });

    // The delivery log says what happened.
    const log = await stack.api(stack.admin, 'GET', `/v1/alerts/${ruleId}/deliveries`);
    const firstDelivery = log.body.deliveries.find((d: any) => String(d.id) === retried.delivery);
    expect(firstDelivery).toMatchObject({
      status: 'delivered',
      attempts: 2,
      responseCode: 200,
      eventType: 'scan.finished',
    });
    const audit = await stack.api(stack.admin, 'GET', '/v1/audit?action=alert.*');
    expect(audit.body.entries.map((e: any) => `${e.action}:${e.decision}`)).toEqual(
      expect.arrayContaining(['alert.create:accepted', 'alert.delivery:failing', 'alert.delivery:delivered']),
    );
  }, 180_000);

  it('alerts port_opened when a scheduled scan finds a listener its previous run did not, for a rule on that schedule', async () => {
    const port = await freePort();
    const schedule = await stack.api(stack.admin, 'POST', '/v1/schedules', {
      name: 'alerts-hourly',
      scan: { target: '127.0.0.2', args: `-sT -p ${port}` },
      intervalSec: 3600,
    });
    expect(schedule.status).toBe(201);
    const scheduleId = schedule.body.schedule.id as string;
    const rule = await stack.api(stack.admin, 'POST', '/v1/alerts', {
      name: 'scheduled watch',
      url: `http://127.0.0.1:${receiver.port}/scheduled`,
      events: ['port_opened'],
      filters: { scheduleId },
    });
    expect(rule.status, JSON.stringify(rule.body)).toBe(201);
    receiver.secrets.set('/scheduled', rule.body.secret);
    const runOnce = async () => {
      const run = await stack.api(stack.admin, 'POST', `/v1/schedules/${scheduleId}/run`);
      expect(run.status, JSON.stringify(run.body)).toBe(202);
      return stack.waitForScan(stack.admin, run.body.scan.id, (s) => s.status === 'succeeded', 60_000);
    };
    await runOnce(); // nothing listens yet
    const listener = createTcpServer((socket) => socket.on('error', () => {}).end());
    listener.listen(port, '127.0.0.2');
    await once(listener, 'listening');
    try {
      const second = await runOnce();
      expect(second.changes).toMatchObject({ counts: { opened: 1 } });
      const opened = await receiver.until(
        (all) =>
          all.find((r) => r.path === '/scheduled' && r.event === 'port_opened' && r.body.event.scanId === second.id),
        'port_opened from the scheduled run, for the rule on its schedule',
      );
      expect(opened.body.event).toMatchObject({ host: '127.0.0.2', port, scheduleId });
      expect(opened.body.rule.name).toBe('scheduled watch');
      expect(opened.verified).toMatchObject({ ok: true });
      // The rule on the schedule heard only its schedule's scans.
      expect(
        receiver.received.filter((r) => r.path === '/scheduled' && r.body.event.scheduleId !== scheduleId),
      ).toEqual([]);
    } finally {
      listener.close();
    }
  }, 180_000);

  it('is driven from the CLI: create prints the secret once, test delivers a signed event, deliveries lists it', async () => {
    const cli = (args: string[], token = stack.admin) => runCli(stack, token, args);
    const made = await cli([
      'alerts',
      'create',
      'cli-watch',
      `http://127.0.0.1:${receiver.port}/cli`,
      '--events',
      'port_opened,scan.failed',
    ]);
    const id = /(alr_[A-Za-z0-9_-]+)/.exec(made.stdout)?.[1];
    const secret = /shown once[^\n]*\n(\S+)/.exec(made.stdout)?.[1];
    expect(id, made.stdout + made.stderr).toBeDefined();
    expect(secret).toBeDefined();
    receiver.secrets.set('/cli', secret!);
    const listed = await cli(['alerts', 'list']);
    expect(listed.stdout).toMatch(new RegExp(`${id}\\s+cli-watch\\s+enabled\\s+port_opened,scan.failed`));
    expect(listed.stdout).not.toContain(secret!);
    const tested = await cli(['alerts', 'test', id!]);
    expect(tested.stdout).toMatch(/delivered\s+1\s+200/);
    const heard = await receiver.until((all) => all.find((r) => r.path === '/cli'), 'the CLI test delivery');
    expect(heard.verified).toMatchObject({ ok: true });
    expect((await cli(['alerts', 'deliveries', id!])).stdout).toMatch(/delivered\s+1\s+200/);
    const refused = await cli(['alerts', 'list'], await stack.mintToken('scan'));
    expect(refused.stderr).toContain('forbidden');
    expect((await cli(['alerts', 'delete', id!])).stdout).toContain(`alert ${id} deleted`);
  }, 120_000);
});
