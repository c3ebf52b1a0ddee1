import { zValidator } from '@hono/zod-validator';
import type { ValidationTargets } from 'hono';
import type { z } from 'zod';
import { ScangateError, scanError } from '../../shared/errors/index.ts';
import type { Result } from '../coordinator.do.ts';

/** zod validation for a request part; a failure is one validation_error naming the field. */
export function valid<T extends z.ZodType, Target extends keyof ValidationTargets>(target: Target, schema: T) {
  return zValidator(target, schema, (result) => {
    if (!result.success) {
      const issue = result.error.issues[0];
      const where = issue?.path.join('.') || target;
      throw new ScangateError(scanError('validation_error', `Invalid ${target} at ${where}: ${issue?.message ?? 'malformed'}`, 'Fix that field; see the README for the request shapes.', { details: { target, path: where } }));
    }
  });
}

/**
 * The value of a coordinator Result, or its error thrown for the one error handler. The RPC stub's types
 * flatten `unknown` fields (ScanError.details) so far that results arrive typed as unknown; the caller names T.
 */
export function unwrap<T>(result: Result<T> | unknown): T {
  return unwrapResult(result as Result<T>);
}

function unwrapResult<T>(result: Result<T>): T {
  if (!result.ok) throw new ScangateError(result.error);
  return result.value;
}
