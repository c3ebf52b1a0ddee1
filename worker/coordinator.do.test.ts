import { env, runInDurableObject, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { Coordinator, getCoordinator } from './coordinator.do.ts';

describe('Coordinator Durable Object (real workerd, SQLite storage)', () => {
  it('migrates its schema once and records the versions', async () => {
    const stub = getCoordinator(env, 'migration-test');
    const first = await stub.health();
    expect(first.schemaVersion).toBe(4);
    await runInDurableObject(stub, (instance: Coordinator, state) => {
      const rows = state.storage.sql.exec<{ version: number; name: string }>('SELECT version, name FROM schema_migrations ORDER BY version').toArray();
      expect(rows).toEqual([{ version: 1, name: 'meta' }, { version: 2, name: 'control plane' }, { version: 3, name: 'mcp tasks' }, { version: 4, name: 'runner network grants' }]);
      expect(instance.health().startedAt).toBe(first.startedAt);
    });
  });

  it('serves /health through the Worker, degraded while no runner is connected', async () => {
    const res = await SELF.fetch('https://scangate.test/health');
    expect(res.status).toBe(200);
    const body = await res.json<{ status: string; checks: { coordinator: { ok: boolean }; runners: { ok: boolean; connected: number } } }>();
    expect(body.status).toBe('degraded');
    expect(body.checks.coordinator.ok).toBe(true);
    expect(body.checks.runners).toEqual({ ok: false, connected: 0 });
  });
});
