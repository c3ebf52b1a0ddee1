import { z } from 'zod';
import { canonicalNetwork } from '../../../shared/policy/index.ts';

/**
 * What an alert rule is: which events it wants, which filters narrow them, where it sends them and in which shape.
 * One zod schema for the API body (POST /v1/alerts), the stored spec and the dashboard. Pure.
 */
export const ALERT_EVENT_TYPES = [
  'scan.finished',
  'scan.failed',
  'new_host',
  'port_opened',
  'port_closed',
  'version_changed',
  'cert_expiring',
  'breaker.opened',
  'breaker.closed',
  'runner.offline',
] as const;
export type AlertEventType = (typeof ALERT_EVENT_TYPES)[number];

/** Our own signed JSON; Slack's and Microsoft Teams' incoming-webhook shapes (payloads.ts). */
export const ALERT_FORMATS = ['json', 'slack', 'teams'] as const;
export type AlertFormat = (typeof ALERT_FORMATS)[number];

const Cidr = z
  .string()
  .max(64)
  .transform((text, ctx) => {
    const canonical = canonicalNetwork(text.includes('/') ? text : `${text}/${text.includes(':') ? 128 : 32}`);
    if (typeof canonical === 'string') return canonical;
    ctx.addIssue({ code: 'custom', message: `${text} is not a network (${canonical.problem}); e.g. 10.0.0.0/24` });
    return z.NEVER;
  });

export const AlertFilters = z.strictObject({
  /** Only scans started by this schedule (scan events and the diff events of its scans). */
  scheduleId: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, 'a schedule id such as sch_…')
    .optional(),
  /** Only hosts inside one of these networks (events about a host). */
  cidr: z.array(Cidr).min(1).max(32).optional(),
  /** Only these ports (events about a port). */
  ports: z.array(z.number().int().min(1).max(65535)).min(1).max(64).optional(),
  /** Only these service names as nmap names them, e.g. ssh, https (events about a port). */
  services: z
    .array(
      z
        .string()
        .regex(/^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$/, 'a service name as nmap prints it, e.g. ssh')
        .transform((s) => s.toLowerCase()),
    )
    .min(1)
    .max(32)
    .optional(),
});
export type AlertFilters = z.infer<typeof AlertFilters>;

export const AlertRuleName = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9 ._-]*$/, 'letters, digits, space, dot, underscore, hyphen');

/** Every field of a rule, none defaulted (a PATCH must not reset what it does not name). */
const RuleFields = z.strictObject({
  name: AlertRuleName,
  url: z.string().min(1).max(2048),
  format: z.enum(ALERT_FORMATS),
  events: z
    .array(z.enum(ALERT_EVENT_TYPES))
    .min(1, 'name at least one event, e.g. ["port_opened"]')
    .max(ALERT_EVENT_TYPES.length)
    .transform((events) => [...new Set(events)]),
  filters: AlertFilters,
  /** cert_expiring: a certificate that expires within this many days of the scan. */
  certExpiringDays: z.number().int().min(1).max(365),
  /** runner.offline: a runner away longer than this many minutes. */
  runnerOfflineMinutes: z.number().int().min(1).max(10_080),
  enabled: z.boolean(),
});

/** The body of POST /v1/alerts. The destination URL is checked apart (destination.ts): it needs the deployment. */
export const AlertRuleInput = RuleFields.extend({
  format: RuleFields.shape.format.default('json'),
  filters: AlertFilters.default({}),
  certExpiringDays: RuleFields.shape.certExpiringDays.default(30),
  runnerOfflineMinutes: RuleFields.shape.runnerOfflineMinutes.default(10),
  enabled: z.boolean().default(true),
});
export type AlertRuleInput = z.input<typeof AlertRuleInput>;
export type AlertRuleSpec = z.output<typeof AlertRuleInput>;

/** The body of PATCH /v1/alerts/:id: any field of the rule; a new secret only with rotateSecret. */
export const AlertRulePatch = RuleFields.partial()
  .extend({ rotateSecret: z.literal(true).optional() })
  .refine((patch) => Object.keys(patch).length > 0, 'name at least one field to change, e.g. {"enabled": false}');
export type AlertRulePatch = z.output<typeof AlertRulePatch>;
