/**
 * The one error taxonomy of scangate, shared by the edge, the runner and every client surface.
 *
 * Every error carries a message a person can act on and a `recoverySuggestion` naming the fix. The HTTP
 * status of each type is decided here and nowhere else; MCP tool errors carry the same `type`.
 */

/** Errors a request can get back (HTTP and MCP). */
export const REQUEST_ERROR_TYPES = [
  'validation_error',
  'unauthorized',
  'forbidden',
  'not_found',
  'conflict',
  'payload_too_large',
  'rate_limited',
  'no_runner',
  'circuit_breaker_open',
] as const;

/** Ways a scan that was accepted can end badly. They are outcomes stored on the scan, not HTTP errors. */
export const SCAN_OUTCOME_ERROR_TYPES = ['timeout', 'execution_error', 'runner_lost', 'cancelled'] as const;

export const ERROR_TYPES = [...REQUEST_ERROR_TYPES, ...SCAN_OUTCOME_ERROR_TYPES] as const;

export type RequestErrorType = (typeof REQUEST_ERROR_TYPES)[number];
export type ScanOutcomeErrorType = (typeof SCAN_OUTCOME_ERROR_TYPES)[number];
export type ErrorType = (typeof ERROR_TYPES)[number];

/**
 * A value JSON can carry. Error details and every other free-form field that crosses a Durable Object's RPC
 * boundary MUST be typed with it, never `unknown`: workerd's stub types keep a method's return type only when every
 * part of it is serializable, and `unknown` is not, so one such field turns the whole result into an unusable type.
 * `undefined` is allowed in objects for optional fields (JSON.stringify leaves them out). Interfaces (not type
 * aliases) keep workerd's recursive stub types from expanding without end; arrays are read-only so that any
 * list, readonly or not, is one. Types meant to fit it are `type` aliases: an interface has no index signature.
 */
export type JsonValue = string | number | boolean | null | JsonArray | JsonObject;
export interface JsonArray extends ReadonlyArray<JsonValue> {}
export interface JsonObject {
  [key: string]: JsonValue | undefined;
}

/**
 * The wire shape of an error, in HTTP bodies (`{ error: ScanError }`), MCP tool results and runner frames.
 * `message` MUST name what was wrong (the offending token, target or limit); `recoverySuggestion` MUST say
 * what to do instead. `retryAfterSec` is set for `rate_limited` and `circuit_breaker_open`.
 */
export type ScanError = {
  type: ErrorType;
  message: string;
  recoverySuggestion: string;
  retryAfterSec?: number;
  details?: JsonObject;
};

/**
 * HTTP status of every error type. Scan outcomes map to 500 only as a last resort: they are meant to be
 * reported inside a scan's result, and a handler that surfaces one as an HTTP error has made a mistake.
 */
const HTTP_STATUS: Readonly<Record<ErrorType, number>> = {
  validation_error: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  rate_limited: 429,
  no_runner: 503,
  circuit_breaker_open: 503,
  timeout: 500,
  execution_error: 500,
  runner_lost: 500,
  cancelled: 500,
};

export function httpStatusOf(type: ErrorType): number {
  return HTTP_STATUS[type];
}

export function isErrorType(value: unknown): value is ErrorType {
  return typeof value === 'string' && (ERROR_TYPES as readonly string[]).includes(value);
}

export function isScanOutcome(type: ErrorType): type is ScanOutcomeErrorType {
  return (SCAN_OUTCOME_ERROR_TYPES as readonly string[]).includes(type);
}

/** Builds a ScanError, leaving out optional fields that are not given (so JSON stays minimal). */
export function scanError(
  type: ErrorType,
  message: string,
  recoverySuggestion: string,
  extra: { details?: JsonObject; retryAfterSec?: number } = {},
): ScanError {
  const error: ScanError = { type, message, recoverySuggestion };
  if (extra.retryAfterSec !== undefined) error.retryAfterSec = extra.retryAfterSec;
  if (extra.details !== undefined) error.details = extra.details;
  return error;
}

/**
 * A thrown ScanError, for code that unwinds (route handlers, Durable Object methods). Catch it in one place
 * and answer with `toJSON()` and `status`.
 */
export class ScangateError extends Error {
  readonly type: ErrorType;
  readonly recoverySuggestion: string;
  readonly retryAfterSec: number | undefined;
  readonly details: JsonObject | undefined;

  constructor(error: ScanError, options?: { cause?: unknown }) {
    super(error.message, options);
    this.name = 'ScangateError';
    this.type = error.type;
    this.recoverySuggestion = error.recoverySuggestion;
    this.retryAfterSec = error.retryAfterSec;
    this.details = error.details;
  }

  get status(): number {
    return httpStatusOf(this.type);
  }

  toJSON(): ScanError {
    return scanError(this.type, this.message, this.recoverySuggestion, {
      ...(this.details !== undefined && { details: this.details }),
      ...(this.retryAfterSec !== undefined && { retryAfterSec: this.retryAfterSec }),
    });
  }
}
