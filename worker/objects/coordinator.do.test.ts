import { env, runInDurableObject, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { type Coordinator, getCoordinator } from './coordinator.do.ts';
import { COORDINATOR_MIGRATIONS } from '../storage/schema.ts';

describe('Coordinator Durable Object (real workerd, SQLite storage)', () => {
  it('migrates its schema once and records the versions', async () => {
    const stub = getCoordinator(env, 'migration-test');
    const first = await stub.health();
    expect(first.schemaVersion).toBe(COORDINATOR_MIGRATIONS.length);
    await runInDurableObject(stub, (instance: Coordinator, state) => {
      const rows = state.storage.sql
        .exec<{ version: number; name: string }>('SELECT version, name FROM schema_migrations ORDER BY version')
        .toArray();
      expect(rows).toEqual(COORDINATOR_MIGRATIONS.map(({ name }, i) => ({ version: i + 1, name })));
      expect(rows.map((r) => r.version)).toEqual(COORDINATOR_MIGRATIONS.map((m) => m.version));
      expect(instance.health().startedAt).toBe(first.startedAt);
    });
  });

  it('serves /health through the Worker, degraded while no runner is connected', async () => {
    const res = await SELF.fetch('https://scangate.test/health');
    expect(res.status).toBe(200);
    const body = await res.json<{
      status: string;
      checks: { coordinator: { ok: boolean }; runners: { ok: boolean; connected: number } };
    }>();
    expect(body.status).toBe('degraded');
    expect(body.checks.coordinator.ok).toBe(true);
    expect(body.checks.runners).toEqual({ ok: false, connected: 0 });
  });
});
