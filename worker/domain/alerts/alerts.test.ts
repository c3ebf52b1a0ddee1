import { describe, expect, it } from 'vitest';
import { certificateExpiry, certificateFacts, diffScans } from '../diff/index.ts';
import { side } from '../diff/fixtures.ts';
import {
  AlertRuleInput,
  AlertRulePatch,
  backoffDelay,
  checkDestination,
  nextAttemptAt,
  payloadBody,
  retrySchedule,
  ruleMatches,
  scanEvents,
  signatureHeader,
  testEvent,
  verifySignature,
  type AlertEvent,
  type FinishedScan,
} from './index.ts';

const SECRET = 'whsec_test-vector-secret';
const BODY = '{"hello":"world"}';

describe('webhook signatures', () => {
  it('matches a known HMAC-SHA256 vector over "<t>.<body>" (computed apart with openssl dgst -sha256 -hmac)', async () => {
    expect(await signatureHeader(SECRET, 1_700_000_000, BODY)).toBe(
      't=1700000000,v1=662c4b4e3624c46b0f2e74ef63f123c6c66a3b1e60efe16794731eea6b522821',
    );
  });

  it('verifies its own signature and refuses a tampered body, another secret, a stale or future time, junk', async () => {
    const header = await signatureHeader(SECRET, 1_700_000_000, BODY);
    expect(await verifySignature(SECRET, header, BODY, 1_700_000_100)).toEqual({
      ok: true,
      timestampSec: 1_700_000_000,
    });
    expect(await verifySignature(SECRET, header, '{"hello":"World"}', 1_700_000_100)).toMatchObject({
      ok: false,
      reason: 'mismatch',
    });
    expect(await verifySignature('whsec_other', header, BODY, 1_700_000_100)).toMatchObject({
      ok: false,
      reason: 'mismatch',
    });
    expect(await verifySignature(SECRET, header, BODY, 1_700_000_301)).toMatchObject({ ok: false, reason: 'stale' });
    expect(await verifySignature(SECRET, header, BODY, 1_699_999_699)).toMatchObject({ ok: false, reason: 'stale' });
    // A replay that swaps in a fresh timestamp breaks the MAC: the timestamp is signed.
    const replayed = header.replace('t=1700000000', 't=1700000500');
    expect(await verifySignature(SECRET, replayed, BODY, 1_700_000_500)).toMatchObject({
      ok: false,
      reason: 'mismatch',
    });
    for (const junk of [null, '', 'v1=abc', 't=abc,v1=00', 't=1700000000'])
      expect(await verifySignature(SECRET, junk, BODY, 1_700_000_000)).toMatchObject({
        ok: false,
        reason: 'malformed',
      });
    // One good entry among several is enough (room for a secret rotation).
    expect(await verifySignature(SECRET, `${header},v1=${'0'.repeat(64)}`, BODY, 1_700_000_000)).toMatchObject({
      ok: true,
    });
  });
});

describe('retry schedule', () => {
  const s = retrySchedule(30_000);

  it('is exponential with full jitter under a cap: 0…base·2^(n-1), never above an hour, never zero', () => {
    expect(s).toEqual({ baseMs: 30_000, capMs: 3_600_000, windowMs: 86_400_000 });
    for (let attempt = 1; attempt <= 40; attempt++) {
      const ceiling = Math.min(3_600_000, 30_000 * 2 ** (attempt - 1));
      expect(backoffDelay(s, attempt, 0)).toBe(3_000);
      expect(backoffDelay(s, attempt, 0.999_999)).toBeLessThanOrEqual(ceiling);
      expect(backoffDelay(s, attempt, 0.999_999)).toBeGreaterThan(ceiling * 0.99);
      expect(backoffDelay(s, attempt, 0.5)).toBe(Math.floor(ceiling / 2));
    }
  });

  it('gives up once the next attempt would be more than 24 h after the event', () => {
    const created = 1_000_000;
    let now = created;
    let attempts = 0;
    for (;;) {
      attempts++;
      const next = nextAttemptAt(s, created, attempts, now, 0.5);
      if (next === null) break;
      expect(next - created).toBeLessThanOrEqual(86_400_000);
      now = next;
    }
    // With the mean jitter: a few fast retries, then about one every half hour for the rest of the day.
    expect(attempts).toBeGreaterThan(30);
    expect(attempts).toBeLessThan(80);
    expect(now - created).toBeGreaterThan(86_400_000 - 3_600_000);
  });
});

const scan = (over: Partial<FinishedScan> = {}): FinishedScan => ({
  id: 'scan_head',
  pool: 'default',
  status: 'succeeded',
  targets: ['127.0.0.1'],
  scheduleId: null,
  finishedAt: Date.parse('2026-11-30T08:00:00Z'),
  errorType: null,
  report: side('up').report,
  ...over,
});
const rule = (over: Partial<AlertRuleInput> = {}) =>
  AlertRuleInput.parse({ name: 'r', url: 'https://hooks.example.org/x', events: ['port_opened'], ...over });

describe('events from a finished scan and its diff', () => {
  it('a port that was closed and is now open is port_opened, with its service; scan.finished comes first', () => {
    const events = scanEvents(scan(), diffScans(side('down'), side('up')));
    expect(events[0]).toMatchObject({ type: 'scan.finished', scanId: 'scan_head', scheduleId: null });
    const opened = events.filter((e) => e.type === 'port_opened');
    expect(opened).toEqual([
      expect.objectContaining({ host: '127.0.0.1', port: 2222, protocol: 'tcp', service: 'ssh', scanId: 'scan_head' }),
    ]);
    expect(opened[0]!.title).toBe('Port 2222/tcp opened on 127.0.0.1 (was closed)');
    const closed = scanEvents(scan({ report: side('down').report }), diffScans(side('up'), side('down')));
    expect(closed.filter((e) => e.type === 'port_closed').map((e) => e.port)).toEqual([2222]);
  });

  it('a new version is version_changed; a failed scan is only scan.failed', () => {
    const events = scanEvents(scan({ report: side('newBanner').report }), diffScans(side('up'), side('newBanner')));
    const changed = events.find((e) => e.type === 'version_changed')!;
    expect(changed).toMatchObject({ host: '127.0.0.1', port: 2222, service: 'ssh' });
    expect(changed.title).toContain('8.9p1');
    const failed = scanEvents(scan({ status: 'failed', errorType: 'timeout', report: null }), null);
    expect(failed.map((e) => e.type)).toEqual(['scan.failed']);
    expect(failed[0]!.title).toContain('timeout');
  });

  it('cert_expiring comes from the head scan alone and matches only within the rule’s days', () => {
    const port = side('up').report.hosts[0]!.ports.find((p) => p.port === 4430)!;
    const expiry = certificateExpiry(certificateFacts(port.scripts.find((s) => s.id === 'ssl-cert')!.output)!)!;
    const tenDaysBefore = scan({ finishedAt: expiry - 10 * 86_400_000 });
    const cert = scanEvents(tenDaysBefore, null).find((e) => e.type === 'cert_expiring')!;
    expect(cert).toMatchObject({ host: '127.0.0.1', port: 4430, expiresAt: expiry });
    expect(cert.title).toContain('expires in 10 days');
    expect(ruleMatches(rule({ events: ['cert_expiring'], certExpiringDays: 30 }), cert)).toBe(true);
    expect(ruleMatches(rule({ events: ['cert_expiring'], certExpiringDays: 5 }), cert)).toBe(false);
  });
});

describe('matching', () => {
  const opened = (over: Partial<AlertEvent> = {}): AlertEvent => ({
    ...scanEvents(scan(), diffScans(side('down'), side('up'))).find((e) => e.type === 'port_opened')!,
    ...over,
  });

  it('needs the event type and an enabled rule', () => {
    expect(ruleMatches(rule(), opened())).toBe(true);
    expect(ruleMatches(rule({ events: ['port_closed'] }), opened())).toBe(false);
    expect(ruleMatches(rule({ enabled: false }), opened())).toBe(false);
  });

  it('filters by schedule: only that schedule’s scans, not scans someone asked for', () => {
    const r = rule({ filters: { scheduleId: 'sch_nightly' } });
    expect(ruleMatches(r, opened({ scheduleId: 'sch_nightly' }))).toBe(true);
    expect(ruleMatches(r, opened({ scheduleId: 'sch_other' }))).toBe(false);
    expect(ruleMatches(r, opened({ scheduleId: null }))).toBe(false);
  });

  it('filters by CIDR, port and service on the events that carry them', () => {
    expect(ruleMatches(rule({ filters: { cidr: ['127.0.0.0/8'] } }), opened())).toBe(true);
    expect(ruleMatches(rule({ filters: { cidr: ['10.0.0.0/8', '::1/128'] } }), opened())).toBe(false);
    expect(ruleMatches(rule({ filters: { ports: [22, 2222] } }), opened())).toBe(true);
    expect(ruleMatches(rule({ filters: { ports: [22] } }), opened())).toBe(false);
    expect(ruleMatches(rule({ filters: { services: ['SSH'] } }), opened())).toBe(true);
    expect(ruleMatches(rule({ filters: { services: ['http'] } }), opened())).toBe(false);
    expect(ruleMatches(rule({ filters: { services: ['ssh'] } }), opened({ service: null }))).toBe(false);
    // A breaker event has no host or port: a host filter does not silence it.
    const breaker: AlertEvent = { id: 'b', type: 'breaker.opened', at: 0, pool: 'default', title: 'b', detail: {} };
    expect(ruleMatches(rule({ events: ['breaker.opened'], filters: { cidr: ['10.0.0.0/8'] } }), breaker)).toBe(true);
  });

  it('refuses bad rules with messages that say the fix', () => {
    const bad = AlertRuleInput.safeParse({
      name: 'r',
      url: 'https://x.org',
      events: [],
      filters: { cidr: ['10.0.0.1/8'] },
    });
    expect(bad.success).toBe(false);
    const messages = bad.error!.issues.map((i) => i.message).join(' | ');
    expect(messages).toContain('name at least one event');
    expect(messages).toContain('host bits are set');
    expect(AlertRuleInput.safeParse({ name: 'r', url: 'https://x.org', events: ['port_open'] }).success).toBe(false);
    // A patch changes only what it names.
    expect(AlertRulePatch.parse({ enabled: false })).toEqual({ enabled: false });
    expect(AlertRulePatch.safeParse({}).success).toBe(false);
  });
});

describe('payloads', () => {
  const context = { ruleId: 'alr_1', ruleName: 'lab watch', link: 'https://scangate.test/dashboard' };
  const event: AlertEvent = {
    ...scanEvents(scan(), diffScans(side('down'), side('up'))).find((e) => e.type === 'port_opened')!,
    // Scanned text is hostile: a banner-borne Slack mention must arrive escaped.
    title: 'Port 2222/tcp opened on <!channel> & co',
  };

  it('json: ours, versioned, with the event id a receiver dedupes by', () => {
    const body = JSON.parse(payloadBody('json', event, context));
    expect(body).toMatchObject({
      version: 'scangate.alert.v1',
      rule: { id: 'alr_1', name: 'lab watch' },
      event: { id: event.id, type: 'port_opened', host: '127.0.0.1', port: 2222, at: '2026-11-30T08:00:00.000Z' },
      link: 'https://scangate.test/dashboard',
    });
  });

  it('slack: text plus mrkdwn section blocks, with &, < and > escaped', () => {
    const body = JSON.parse(payloadBody('slack', event, context));
    expect(body.text).toBe('scangate: Port 2222/tcp opened on &lt;!channel&gt; &amp; co');
    expect(body.blocks).toHaveLength(2);
    for (const block of body.blocks) expect(block).toMatchObject({ type: 'section', text: { type: 'mrkdwn' } });
    expect(JSON.stringify(body)).not.toContain('<!channel>');
    expect(body.blocks[1].text.text).toContain('*Port:* 2222/tcp');
  });

  it('teams: a message with one Adaptive Card attachment', () => {
    const body = JSON.parse(payloadBody('teams', testEvent('default', 'lab watch', 0, 'n1'), context));
    expect(body.type).toBe('message');
    expect(body.attachments).toHaveLength(1);
    expect(body.attachments[0]).toMatchObject({
      contentType: 'application/vnd.microsoft.card.adaptive',
      contentUrl: null,
      content: { type: 'AdaptiveCard', version: '1.2', $schema: 'http://adaptivecards.io/schemas/adaptive-card.json' },
    });
    const [, title, factSet] = body.attachments[0].content.body;
    expect(title).toMatchObject({
      type: 'TextBlock',
      text: 'Test alert for rule lab watch from scangate pool default',
    });
    expect(factSet.type).toBe('FactSet');
    expect(factSet.facts).toContainEqual({ title: 'Event', value: 'test' });
  });
});

describe('destinations', () => {
  const prod = { allowLoopback: false, selfHosts: ['scangate.example.org'] };
  const dev = { allowLoopback: true, selfHosts: ['127.0.0.1:8787'] };
  const refused = (url: string, rules = prod) => {
    const r = checkDestination(url, rules);
    if (r.ok) throw new Error(`${url} was accepted`);
    return r.error;
  };

  it('accepts public https on 443', () => {
    expect(checkDestination('https://hooks.slack.com/services/T/B/X', prod)).toEqual({
      ok: true,
      url: 'https://hooks.slack.com/services/T/B/X',
    });
    expect(checkDestination('https://hooks.example.org:443/a', prod)).toMatchObject({ ok: true });
  });

  it('refuses http, other ports, credentials, non-public literals and the Worker itself, saying the fix', () => {
    expect(refused('http://hooks.example.org/a').message).toContain('https only');
    expect(refused('http://127.0.0.1:9000/a').message).toContain('https only');
    expect(refused('https://hooks.example.org:8443/a').recoverySuggestion).toContain('443');
    expect(refused('https://user:pw@hooks.example.org/a').message).toContain('user name or password');
    expect(refused('https://user:pw@hooks.example.org/a').details?.url).not.toContain('pw');
    for (const literal of ['https://10.0.0.5/', 'https://169.254.169.254/', 'https://[::1]/', 'https://127.0.0.1/'])
      expect(refused(literal).message).toMatch(/not a public one/);
    expect(refused('https://scangate.example.org/hook').message).toContain('scangate Worker itself');
    expect(refused('ftp://hooks.example.org/').type).toBe('validation_error');
    expect(refused('not a url').recoverySuggestion).toContain('https://');
  });

  it('with ALLOW_LOOPBACK_WEBHOOKS, plain http to a loopback literal on any port, but never the Worker', () => {
    expect(checkDestination('http://127.0.0.1:9000/hook', dev)).toMatchObject({ ok: true });
    expect(checkDestination('http://[::1]:9000/hook', dev)).toMatchObject({ ok: true });
    expect(refused('http://127.0.0.1:8787/v1/scans', dev).message).toContain('itself');
    expect(refused('http://localhost:8787/v1/scans', dev).message).toContain('itself');
    expect(refused('http://localhost:9000/hook', dev).message).toContain('https only');
    expect(refused('http://10.0.0.1/hook', dev).message).toContain('https only');
  });
});
