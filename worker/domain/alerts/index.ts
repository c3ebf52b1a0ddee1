export { checkDestination, type DestinationRules } from './destination.ts';
export {
  type AlertEvent,
  breakerEvent,
  type FinishedScan,
  runnerOfflineEvent,
  scanEvents,
  testEvent,
} from './events.ts';
export { ruleMatches } from './match.ts';
export {
  jsonPayload,
  PAYLOAD_VERSION,
  type PayloadContext,
  payloadBody,
  slackPayload,
  teamsPayload,
} from './payloads.ts';
export { backoffDelay, DEFAULT_RETRY_BASE_MS, nextAttemptAt, type RetrySchedule, retrySchedule } from './retry.ts';
export {
  ALERT_EVENT_TYPES,
  ALERT_FORMATS,
  type AlertEventType,
  AlertFilters,
  type AlertFormat,
  AlertRuleInput,
  AlertRulePatch,
  type AlertRuleSpec,
} from './rules.ts';
export {
  DEFAULT_TOLERANCE_SEC,
  SIGNATURE_HEADER,
  signatureHeader,
  type VerifyResult,
  verifySignature,
} from './signing.ts';
