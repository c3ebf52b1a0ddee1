import { networkWithin } from '../../../shared/policy/index.ts';
import type { AlertEvent } from './events.ts';
import type { AlertRuleSpec } from './rules.ts';

/**
 * Whether a rule wants an event. Pure. The rule must name the event's type; each filter narrows only the events
 * that carry its field (scheduleId: scan events; cidr: events about a host; ports and services: events about a
 * port), so a rule for `breaker.opened` with a cidr filter still hears its breakers. A scan event that names no
 * schedule (a scan someone asked for) does not pass a scheduleId filter. The test event passes every rule.
 * cert_expiring matches when the certificate expires within the rule's certExpiringDays of the event.
 */
export function ruleMatches(rule: AlertRuleSpec, event: AlertEvent): boolean {
  if (event.type === 'test') return true;
  if (!rule.enabled || !rule.events.includes(event.type)) return false;
  const f = rule.filters;
  if (f.scheduleId !== undefined && event.scheduleId !== undefined && event.scheduleId !== f.scheduleId) return false;
  if (f.cidr && event.host !== undefined && !f.cidr.some((net) => hostWithin(event.host!, net))) return false;
  if (f.ports && event.port !== undefined && !f.ports.includes(event.port)) return false;
  if (f.services && event.port !== undefined && !(event.service && f.services.includes(event.service.toLowerCase())))
    return false;
  if (event.type === 'cert_expiring') {
    if (event.expiresAt === undefined || event.expiresAt - event.at > rule.certExpiringDays * 86_400_000) return false;
  }
  return true;
}

function hostWithin(host: string, network: string): boolean {
  return networkWithin(`${host}/${host.includes(':') ? 128 : 32}`, network);
}
