import type { JsonObject } from '../../../shared/errors/index.ts';
import type { AlertEvent } from './events.ts';
import type { AlertFormat } from './rules.ts';

/**
 * The bodies a delivery sends, one per format. Pure. Every format is signed the same way (signing.ts).
 *
 * - json: ours, versioned (`scangate.alert.v1`): the event with its fields and detail, times as ISO 8601.
 * - slack: a Slack incoming webhook message: `text` (the notification and fallback line) and `blocks` with one
 *   mrkdwn `section`; `&`, `<` and `>` are escaped as Slack asks, so scanned text (banners, hostnames) cannot ping
 *   `<!channel>` or forge a link.
 * - teams: a Microsoft Teams incoming webhook (and Workflows) message: `type: "message"` with one attachment of
 *   contentType `application/vnd.microsoft.card.adaptive` whose content is an Adaptive Card 1.2 (TextBlocks and a
 *   FactSet), as Microsoft's "Send Adaptive Cards using an incoming webhook" documents.
 */
export const PAYLOAD_VERSION = 'scangate.alert.v1';

export interface PayloadContext {
  ruleId: string;
  ruleName: string;
  /** Where a person reads more (the dashboard), or null. */
  link: string | null;
}

export function jsonPayload(event: AlertEvent, context: PayloadContext): JsonObject {
  const { detail, at, expiresAt, ...fields } = event;
  return {
    version: PAYLOAD_VERSION,
    rule: { id: context.ruleId, name: context.ruleName },
    event: {
      ...fields,
      at: new Date(at).toISOString(),
      ...(expiresAt !== undefined && { expiresAt: new Date(expiresAt).toISOString() }),
      detail,
    },
    ...(context.link && { link: context.link }),
  };
}

function slackEscape(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

/** Name/value lines of an event, shared by Slack and Teams. */
function facts(event: AlertEvent, context: PayloadContext): Array<{ title: string; value: string }> {
  const list: Array<{ title: string; value: string }> = [
    { title: 'Event', value: event.type },
    { title: 'Pool', value: event.pool },
    { title: 'Rule', value: context.ruleName },
  ];
  if (event.scanId) list.push({ title: 'Scan', value: event.scanId });
  if (event.scheduleId) list.push({ title: 'Schedule', value: event.scheduleId });
  if (event.host) list.push({ title: 'Host', value: event.host });
  if (event.port !== undefined) list.push({ title: 'Port', value: `${event.port}/${event.protocol ?? 'tcp'}` });
  if (event.service) list.push({ title: 'Service', value: event.service });
  list.push({ title: 'At', value: new Date(event.at).toISOString() });
  return list;
}

export function slackPayload(event: AlertEvent, context: PayloadContext): JsonObject {
  const lines = facts(event, context).map((f) => `*${f.title}:* ${slackEscape(f.value)}`);
  const link = context.link ? `\n<${slackEscape(context.link)}|Open the scangate dashboard>` : '';
  return {
    text: slackEscape(`scangate: ${event.title}`),
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: `*${slackEscape(event.title)}*` } },
      { type: 'section', text: { type: 'mrkdwn', text: `${lines.join('\n')}${link}` } },
    ],
  };
}

export function teamsPayload(event: AlertEvent, context: PayloadContext): JsonObject {
  return {
    type: 'message',
    attachments: [
      {
        contentType: 'application/vnd.microsoft.card.adaptive',
        contentUrl: null,
        content: {
          $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
          type: 'AdaptiveCard',
          version: '1.2',
          body: [
            { type: 'TextBlock', text: 'scangate', size: 'Small', isSubtle: true },
            { type: 'TextBlock', text: event.title, weight: 'Bolder', size: 'Medium', wrap: true },
            { type: 'FactSet', facts: facts(event, context) },
          ],
          ...(context.link && {
            actions: [{ type: 'Action.OpenUrl', title: 'Open the scangate dashboard', url: context.link }],
          }),
        },
      },
    ],
  };
}

/** The body to send for `format`, as the exact string that is signed and sent (and kept for retries). */
export function payloadBody(format: AlertFormat, event: AlertEvent, context: PayloadContext): string {
  const body =
    format === 'slack'
      ? slackPayload(event, context)
      : format === 'teams'
        ? teamsPayload(event, context)
        : jsonPayload(event, context);
  return JSON.stringify(body);
}
