import { Hono } from 'hono';
import { getCoordinator } from './coordinator.do.ts';
import type { Env } from './env.ts';

export { Coordinator } from './coordinator.do.ts';

const app = new Hono<{ Bindings: Env }>();

app.get('/health', async (c) => {
  const coordinator = await getCoordinator(c.env).health();
  return c.json({ status: 'healthy', checks: { coordinator } });
});

export default app;
