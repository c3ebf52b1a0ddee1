import { zValidator } from '@hono/zod-validator';
import type { ValidationTargets } from 'hono';
import type { z } from 'zod';
import { ScangateError, scanError } from '../../../shared/errors/index.ts';

/** zod validation for a request part; a failure is one validation_error naming the field. */
export function valid<T extends z.ZodType, Target extends keyof ValidationTargets>(target: Target, schema: T) {
  return zValidator(target, schema, (result) => {
    if (!result.success) {
      const issue = result.error.issues[0];
      const where = issue?.path.join('.') || target;
      throw new ScangateError(
        scanError(
          'validation_error',
          `Invalid ${target} at ${where}: ${issue?.message ?? 'malformed'}`,
          'Fix that field; see the README for the request shapes.',
          { details: { target, path: where } },
        ),
      );
    }
  });
}
