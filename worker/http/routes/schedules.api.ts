import { Hono } from 'hono';
import { z } from 'zod';
import { ScangateError, scanError, type JsonValue } from '../../../shared/errors/index.ts';
import { nestsAtMost } from '../../../shared/protocol/index.ts';
import { poolFor, PoolName } from '../../domain/pools.ts';
import { unwrap } from '../../domain/result.ts';
import { ScheduleInput, SchedulePatch } from '../../domain/schedule.ts';
import { getCoordinator } from '../../objects/coordinator.do.ts';
import { requireRole, type AppEnv } from '../auth.ts';
import { valid } from './validators.ts';

const PoolQuery = z.object({ pool: PoolName.optional() });
const IdParam = z.object({
  id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'a schedule id (sch_…) or name'),
});

/** A JSON body parsed with its schema; the first problem becomes one validation_error naming the field. */
async function body<T extends z.ZodType>(req: Request, schema: T): Promise<z.infer<T>> {
  const input = await req.json<JsonValue>().catch(() => {
    throw new ScangateError(
      scanError('validation_error', 'The body is not JSON', 'Send the schedule as a JSON object.'),
    );
  });
  if (!nestsAtMost(input, 8))
    throw new ScangateError(
      scanError('validation_error', 'The body is nested deeper than any schedule field', 'Send a schedule object.'),
    );
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.join('.') || 'body';
    throw new ScangateError(
      scanError(
        'validation_error',
        `Invalid schedule at ${where}: ${issue?.message ?? 'malformed'}`,
        'Fix that field; the README (Schedules) shows a full example.',
        { details: { path: where } },
      ),
    );
  }
  return parsed.data;
}

/**
 * Scan schedules (issue 18): admin-owned, per pool (`?pool=` for a global admin). A schedule the policy would refuse
 * is refused when made; a policy change that refuses it later pauses it with the reason (GET shows it).
 */
export const schedulesApi = new Hono<AppEnv>()
  .get('/v1/schedules', requireRole('admin'), valid('query', PoolQuery), async (c) => {
    const pool = poolFor(c.var.principal, c.req.valid('query').pool);
    return c.json({ schedules: await getCoordinator(c.env, pool).listSchedules() });
  })
  .post('/v1/schedules', requireRole('admin'), valid('query', PoolQuery), async (c) => {
    const pool = poolFor(c.var.principal, c.req.valid('query').pool);
    const input = await body(c.req.raw, ScheduleInput);
    const schedule = unwrap(await getCoordinator(c.env, pool).createSchedule(c.var.principal, pool, input));
    return c.json({ schedule }, 201);
  })
  .get('/v1/schedules/:id', requireRole('admin'), valid('param', IdParam), valid('query', PoolQuery), async (c) => {
    const pool = poolFor(c.var.principal, c.req.valid('query').pool);
    return c.json({ schedule: unwrap(await getCoordinator(c.env, pool).getSchedule(c.req.valid('param').id)) });
  })
  .patch('/v1/schedules/:id', requireRole('admin'), valid('param', IdParam), valid('query', PoolQuery), async (c) => {
    const pool = poolFor(c.var.principal, c.req.valid('query').pool);
    const patch = await body(c.req.raw, SchedulePatch);
    const coordinator = getCoordinator(c.env, pool);
    return c.json({
      schedule: unwrap(await coordinator.updateSchedule(c.var.principal, c.req.valid('param').id, patch)),
    });
  })
  .delete('/v1/schedules/:id', requireRole('admin'), valid('param', IdParam), valid('query', PoolQuery), async (c) => {
    const pool = poolFor(c.var.principal, c.req.valid('query').pool);
    const coordinator = getCoordinator(c.env, pool);
    return c.json({ schedule: unwrap(await coordinator.deleteSchedule(c.var.principal, c.req.valid('param').id)) });
  })
  .post(
    '/v1/schedules/:id/run',
    requireRole('admin'),
    valid('param', IdParam),
    valid('query', PoolQuery),
    async (c) => {
      const pool = poolFor(c.var.principal, c.req.valid('query').pool);
      const coordinator = getCoordinator(c.env, pool);
      return c.json(unwrap(await coordinator.runSchedule(c.var.principal, c.req.valid('param').id)), 202);
    },
  );
