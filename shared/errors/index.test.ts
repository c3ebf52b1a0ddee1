import { describe, expect, it } from 'vitest';
import { ERROR_TYPES, httpStatusOf, isErrorType, isScanOutcome, scanError, ScangateError } from './index.ts';

describe('error taxonomy', () => {
  it('maps every request error to the status DESIGN gives it', () => {
    expect(httpStatusOf('validation_error')).toBe(400);
    expect(httpStatusOf('unauthorized')).toBe(401);
    expect(httpStatusOf('forbidden')).toBe(403);
    expect(httpStatusOf('not_found')).toBe(404);
    expect(httpStatusOf('conflict')).toBe(409);
    expect(httpStatusOf('payload_too_large')).toBe(413);
    expect(httpStatusOf('rate_limited')).toBe(429);
    expect(httpStatusOf('no_runner')).toBe(503);
    expect(httpStatusOf('circuit_breaker_open')).toBe(503);
  });

  it('tells scan outcomes apart from request errors', () => {
    expect(ERROR_TYPES.filter(isScanOutcome)).toEqual(['timeout', 'execution_error', 'runner_lost', 'cancelled']);
    expect(isScanOutcome('validation_error')).toBe(false);
  });

  it('recognises only known types', () => {
    expect(isErrorType('no_runner')).toBe(true);
    expect(isErrorType('teapot')).toBe(false);
    expect(isErrorType(404)).toBe(false);
  });

  it('round-trips through a thrown ScangateError with status, retry hint and details', () => {
    const wire = scanError('circuit_breaker_open', 'Runner lab-a is failing', 'Retry after the breaker half-opens', {
      retryAfterSec: 90,
      details: { runner: 'lab-a' },
    });
    const thrown = new ScangateError(wire);
    expect(thrown).toBeInstanceOf(Error);
    expect(thrown.status).toBe(503);
    expect(thrown.toJSON()).toEqual(wire);
    expect(JSON.parse(JSON.stringify(thrown))).toEqual(wire);
  });

  it('omits optional fields that were not given', () => {
    expect(Object.keys(scanError('not_found', 'No scan s1', 'List scans'))).toEqual([
      'type',
      'message',
      'recoverySuggestion',
    ]);
  });
});
