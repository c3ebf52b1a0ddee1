/**
 * Alert rules and their delivery log (issue 18): admin only, scoped to one pool like every admin route (a pool
 * admin sees and changes only its own pool's rules; another pool's rule id is simply not found in its pool). The
 * secret a receiver verifies signatures with is in the answer to POST (and to PATCH with rotateSecret) only.
 */
import { Hono } from 'hono';
import { z } from 'zod';
import { unwrap } from '../../domain/result.ts';
import { AlertRuleInput, AlertRulePatch } from '../../domain/alerts/index.ts';
import { poolFor, PoolName } from '../../domain/pools.ts';
import { getCoordinator } from '../../objects/coordinator.do.ts';
import type { AlertDelivery, AlertRule } from '../../storage/alerts.store.ts';
import { requireRole, type AppEnv } from '../auth.ts';
import { valid } from './validators.ts';

const PoolQuery = z.object({ pool: PoolName.optional() });
const Id = z.object({ id: z.string().regex(/^alr_[A-Za-z0-9_-]{1,32}$/, 'an alert rule id such as alr_…') });
const DeliveryQuery = PoolQuery.extend({
  status: z.enum(['pending', 'delivered', 'failed']).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function ruleView(rule: AlertRule) {
  return { ...rule, createdAt: iso(rule.createdAt), updatedAt: iso(rule.updatedAt) };
}

export function deliveryView(d: AlertDelivery) {
  return {
    ...d,
    createdAt: iso(d.createdAt),
    nextAttemptAt: d.status === 'pending' ? iso(d.nextAttemptAt) : null,
    lastAttemptAt: iso(d.lastAttemptAt),
    finishedAt: iso(d.finishedAt),
  };
}

/** The hosts this request came to: an alert may not point back at the Worker. */
const selfHosts = (url: string) => [new URL(url).host];

export const alertsApi = new Hono<AppEnv>()
  .get('/v1/alerts', requireRole('admin'), valid('query', PoolQuery), async (c) => {
    const pool = poolFor(c.var.principal, c.req.valid('query').pool);
    return c.json({ pool, alerts: (await getCoordinator(c.env, pool).listAlerts()).map(ruleView) });
  })
  .post('/v1/alerts', requireRole('admin'), valid('query', PoolQuery), valid('json', AlertRuleInput), async (c) => {
    const pool = poolFor(c.var.principal, c.req.valid('query').pool);
    const created = unwrap(
      await getCoordinator(c.env, pool).createAlert(
        pool,
        c.req.valid('json'),
        c.var.principal.name,
        selfHosts(c.req.url),
      ),
    );
    return c.json(
      {
        alert: ruleView(created.rule),
        secret: created.secret,
        note: 'The secret is shown once. Receivers verify X-Scangate-Signature with it (README, Alerts).',
      },
      201,
    );
  })
  .get('/v1/alerts/:id', requireRole('admin'), valid('param', Id), valid('query', PoolQuery), async (c) => {
    const pool = poolFor(c.var.principal, c.req.valid('query').pool);
    return c.json({ alert: ruleView(unwrap(await getCoordinator(c.env, pool).getAlert(c.req.valid('param').id))) });
  })
  .patch(
    '/v1/alerts/:id',
    requireRole('admin'),
    valid('param', Id),
    valid('query', PoolQuery),
    valid('json', AlertRulePatch),
    async (c) => {
      const pool = poolFor(c.var.principal, c.req.valid('query').pool);
      const updated = unwrap(
        await getCoordinator(c.env, pool).updateAlert(
          c.req.valid('param').id,
          c.req.valid('json'),
          c.var.principal.name,
          selfHosts(c.req.url),
        ),
      );
      return c.json({ alert: ruleView(updated.rule), ...(updated.secret && { secret: updated.secret }) });
    },
  )
  .delete('/v1/alerts/:id', requireRole('admin'), valid('param', Id), valid('query', PoolQuery), async (c) => {
    const pool = poolFor(c.var.principal, c.req.valid('query').pool);
    const deleted = unwrap(
      await getCoordinator(c.env, pool).deleteAlert(c.req.valid('param').id, c.var.principal.name),
    );
    return c.json({ deleted: ruleView(deleted) });
  })
  .get(
    '/v1/alerts/:id/deliveries',
    requireRole('admin'),
    valid('param', Id),
    valid('query', DeliveryQuery),
    async (c) => {
      const { pool: requested, ...filter } = c.req.valid('query');
      const pool = poolFor(c.var.principal, requested);
      const list = unwrap(await getCoordinator(c.env, pool).alertDeliveries(c.req.valid('param').id, filter));
      return c.json({ deliveries: list.map(deliveryView) });
    },
  )
  .post('/v1/alerts/:id/test', requireRole('admin'), valid('param', Id), valid('query', PoolQuery), async (c) => {
    const pool = poolFor(c.var.principal, c.req.valid('query').pool);
    const delivery = unwrap(await getCoordinator(c.env, pool).testAlert(c.req.valid('param').id, c.var.principal.name));
    return c.json({ delivery: deliveryView(delivery) });
  });
