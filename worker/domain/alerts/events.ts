import type { JsonObject } from '../../../shared/errors/index.ts';
import type { Report } from '../../../shared/nmap-xml/index.ts';
import { certificateExpiry, certificateFacts, type ScanDiff } from '../diff/index.ts';
import type { AlertEventType } from './rules.ts';

/**
 * Events an alert rule can match, built from what happened (a finished scan and its diff, a breaker transition, a
 * runner away). Pure. Each event carries the fields filters look at (scheduleId, host, port, service) when it has
 * them; `title` is one line a person reads (Slack, Teams, the delivery log).
 */
export interface AlertEvent {
  /** Unique per event: a receiver can drop duplicates by it (a retried delivery carries the same id). */
  id: string;
  type: AlertEventType | 'test';
  /** Epoch ms when it happened. */
  at: number;
  pool: string;
  title: string;
  scanId?: string;
  /** Present on every scan event: the schedule that started the scan, or null for a scan someone asked for. */
  scheduleId?: string | null;
  host?: string;
  port?: number;
  protocol?: string;
  service?: string | null;
  /** cert_expiring: when the certificate expires (epoch ms). A rule matches if it is within its days. */
  expiresAt?: number;
  runnerId?: string;
  detail: JsonObject;
}

/** The scan an event is about: what a finished job row gives. */
export interface FinishedScan {
  id: string;
  pool: string;
  status: 'succeeded' | 'failed' | 'cancelled' | 'rejected';
  targets: string[];
  scheduleId: string | null;
  finishedAt: number;
  errorType: string | null;
  report: Report | null;
}

const portLabel = (port: number, protocol: string) => `${port}/${protocol}`;

/** Events of one finished scan: scan.finished or scan.failed, then, for a succeeded scan, its diff and certificates. */
export function scanEvents(scan: FinishedScan, diff: ScanDiff | null): AlertEvent[] {
  const base = { at: scan.finishedAt, pool: scan.pool, scanId: scan.id, scheduleId: scan.scheduleId };
  const events: AlertEvent[] = [];
  const add = (key: string, event: Omit<AlertEvent, 'id' | 'at' | 'pool' | 'scanId' | 'scheduleId'>) =>
    events.push({ id: `${scan.id}:${key}`, ...base, ...event });
  const targets = scan.targets.join(' ');
  if (scan.status === 'succeeded') {
    add('finished', {
      type: 'scan.finished',
      title: `Scan ${scan.id} of ${targets} finished`,
      detail: { targets: scan.targets, hostsUp: scan.report?.stats.hostsUp ?? null },
    });
  } else if (scan.status === 'failed') {
    add('failed', {
      type: 'scan.failed',
      title: `Scan ${scan.id} of ${targets} failed (${scan.errorType ?? 'unknown error'})`,
      detail: { targets: scan.targets, error: scan.errorType },
    });
  }
  if (scan.status !== 'succeeded') return events;
  if (diff) {
    for (const h of diff.hosts.up)
      add(`host:${h.host}`, {
        type: 'new_host',
        title: `New host ${h.host}${h.openPorts.length ? ` (open: ${h.openPorts.join(', ')})` : ''}`,
        host: h.host,
        detail: { hostnames: h.hostnames, openPorts: h.openPorts, since: diff.base },
      });
    const service = (host: string, port: number, protocol: string) => serviceOf(scan.report, host, port, protocol);
    for (const p of diff.ports.opened)
      add(`opened:${p.host}:${portLabel(p.port, p.protocol)}`, {
        type: 'port_opened',
        title: `Port ${portLabel(p.port, p.protocol)} opened on ${p.host} (was ${p.from})`,
        host: p.host,
        port: p.port,
        protocol: p.protocol,
        service: service(p.host, p.port, p.protocol),
        detail: { from: p.from, to: p.to, since: diff.base },
      });
    for (const p of diff.ports.closed)
      add(`closed:${p.host}:${portLabel(p.port, p.protocol)}`, {
        type: 'port_closed',
        title: `Port ${portLabel(p.port, p.protocol)} on ${p.host} is ${p.to} (was open)`,
        host: p.host,
        port: p.port,
        protocol: p.protocol,
        service: service(p.host, p.port, p.protocol),
        detail: { from: p.from, to: p.to, since: diff.base },
      });
    for (const s of diff.services) {
      const show = (f: typeof s.from) => [f.name, f.product, f.version].filter(Boolean).join(' ') || 'unknown';
      add(`version:${s.host}:${portLabel(s.port, s.protocol)}`, {
        type: 'version_changed',
        title: `${s.host} ${portLabel(s.port, s.protocol)}: ${show(s.from)} → ${show(s.to)}`,
        host: s.host,
        port: s.port,
        protocol: s.protocol,
        service: s.to.name ?? s.from.name,
        detail: { from: { ...s.from }, to: { ...s.to }, since: diff.base },
      });
    }
  }
  for (const host of scan.report?.hosts ?? []) {
    const address = host.addresses.find((a) => a.type !== 'mac')?.addr;
    if (!address) continue;
    for (const port of host.ports) {
      const cert = port.state === 'open' && port.scripts.find((s) => s.id === 'ssl-cert');
      const facts = cert ? certificateFacts(cert.output) : null;
      const expiresAt = facts ? certificateExpiry(facts) : null;
      if (!facts || expiresAt === null) continue;
      const days = Math.floor((expiresAt - scan.finishedAt) / 86_400_000);
      add(`cert:${address}:${portLabel(port.port, port.protocol)}`, {
        type: 'cert_expiring',
        title: `Certificate on ${address} ${portLabel(port.port, port.protocol)} ${days < 0 ? `expired ${-days} days ago` : `expires in ${days} days`} (${facts.notAfter})`,
        host: address,
        port: port.port,
        protocol: port.protocol,
        service: port.service?.name ?? null,
        expiresAt,
        detail: { subject: facts.subject, issuer: facts.issuer, notAfter: facts.notAfter, sha1: facts.sha1 },
      });
    }
  }
  return events;
}

function serviceOf(report: Report | null, host: string, port: number, protocol: string): string | null {
  for (const h of report?.hosts ?? []) {
    if (!h.addresses.some((a) => a.addr === host) && !h.hostnames.some((n) => n.name === host)) continue;
    const p = h.ports.find((x) => x.port === port && x.protocol === protocol);
    if (p) return p.service?.name ?? null;
  }
  return null;
}

/** A runner's breaker moved to OPEN or back to CLOSED. */
export function breakerEvent(
  pool: string,
  runner: { id: string; name: string },
  to: 'OPEN' | 'CLOSED',
  at: number,
  detail: JsonObject,
): AlertEvent {
  return {
    id: `breaker:${runner.id}:${to}:${at}`,
    type: to === 'OPEN' ? 'breaker.opened' : 'breaker.closed',
    at,
    pool,
    title: `Circuit breaker of runner ${runner.name} ${to === 'OPEN' ? 'opened: scans are refused' : 'closed: scans run again'}`,
    runnerId: runner.id,
    detail: { runner: runner.name, ...detail },
  };
}

/** A runner has been away longer than a rule's minutes (one event per rule and absence: `since` names it). */
export function runnerOfflineEvent(
  pool: string,
  runner: { id: string; name: string },
  since: number,
  at: number,
): AlertEvent {
  const minutes = Math.floor((at - since) / 60_000);
  return {
    id: `offline:${runner.id}:${since}`,
    type: 'runner.offline',
    at,
    pool,
    title: `Runner ${runner.name} has been offline for ${minutes} minutes`,
    runnerId: runner.id,
    detail: { runner: runner.name, since: new Date(since).toISOString(), minutes },
  };
}

/** What POST /v1/alerts/:id/test sends. */
export function testEvent(pool: string, ruleName: string, at: number, nonce: string): AlertEvent {
  return {
    id: `test:${nonce}`,
    type: 'test',
    at,
    pool,
    title: `Test alert for rule ${ruleName} from scangate pool ${pool}`,
    detail: {},
  };
}
