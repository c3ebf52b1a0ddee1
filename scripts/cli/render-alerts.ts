/** What `scangate alerts` prints. Pure; delivery errors from a receiver are text, kept off the terminal's controls. */
import type { deliveryView, ruleView } from '../../worker/http/routes/alerts.api.ts';
import { table } from './render.ts';

export type AlertView = ReturnType<typeof ruleView>;
export type DeliveryView = ReturnType<typeof deliveryView>;

const when = (iso: string | null) => (iso ? iso.slice(0, 16).replace('T', ' ') : '-');

export function formatAlerts(alerts: AlertView[]): string {
  if (alerts.length === 0)
    return 'no alert rules: make one with `scangate alerts create <name> <https-url> --events port_opened,new_host`';
  return table(
    ['id', 'name', 'state', 'events', 'format', 'destination', 'secret'],
    alerts.map((a) => [
      a.id,
      a.name,
      a.enabled ? 'enabled' : 'disabled',
      a.events.join(','),
      a.format,
      a.url,
      `${a.secretPrefix}…`,
    ]),
  );
}

export function formatDeliveries(deliveries: DeliveryView[]): string {
  if (deliveries.length === 0) return 'no deliveries yet';
  return table(
    ['id', 'event', 'status', 'attempts', 'code', 'created (UTC)', 'next attempt', 'last error'],
    deliveries.map((d) => [
      String(d.id),
      d.eventType,
      d.status,
      String(d.attempts),
      d.responseCode === null ? '-' : String(d.responseCode),
      when(d.createdAt),
      when(d.nextAttemptAt),
      (d.lastError ?? '').slice(0, 80),
    ]),
  );
}
