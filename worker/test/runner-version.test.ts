import { describe, expect, it } from 'vitest';
import type { EdgeMessage, UpdateAvailable } from '../../shared/protocol/index.ts';
import { RUNNER_VERSION } from '../../shared/protocol/runner-version.ts';
import { ADMIN, api, mintRunner, TestRunner } from './helpers/runner-client.ts';

/** Version skew in real workerd: the edge tells an older runner a newer one is served, and the dashboard marks it. */
const isUpdate = (m: EdgeMessage): m is UpdateAvailable => m.type === 'runner.update_available';

async function dashboardRow(name: string): Promise<string> {
  const login = await api('/dashboard/login', {
    method: 'POST',
    body: new URLSearchParams({ token: ADMIN }),
    redirect: 'manual',
  });
  const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
  const page = await (await api('/dashboard', { headers: { cookie } })).text();
  const row = new RegExp(`<tr data-runner="${name}">[\\s\\S]*?</tr>`).exec(page)?.[0];
  if (!row) throw new Error(`no dashboard row for ${name}`);
  return row;
}

describe('runner version skew', () => {
  it('tells a runner older than its build, right after the welcome, which version it serves', async () => {
    const minted = await mintRunner('skew-old', ['127.0.0.0/8']);
    const runner = await TestRunner.ready(minted.token, { runnerVersion: '0.0.1', networks: ['127.31.0.0/16'] });
    expect(await runner.next(isUpdate)).toEqual({
      type: 'runner.update_available',
      runnerVersion: '0.0.1',
      latestRunnerVersion: RUNNER_VERSION,
    });
    const row = await dashboardRow('skew-old');
    expect(row).toContain('data-outdated');
    expect(row).toContain(`outdated: ${RUNNER_VERSION} available`);
    runner.close();
  });

  it('says nothing to a runner of its own version or newer, and the dashboard marks neither', async () => {
    for (const [name, runnerVersion, net] of [
      ['skew-same', RUNNER_VERSION, 32],
      ['skew-newer', '99.0.0', 33],
    ] as const) {
      const minted = await mintRunner(name, ['127.0.0.0/8']);
      const runner = await TestRunner.ready(minted.token, { runnerVersion, networks: [`127.${net}.0.0/16`] });
      // Frames on one link arrive in order: once the pong is in, a notice sent with the welcome would be too.
      runner.ping();
      await runner.next((m) => (m.type as string) === 'pong');
      expect(runner.received.filter(isUpdate)).toEqual([]);
      expect(await dashboardRow(name)).not.toContain('data-outdated');
      runner.close();
    }
  });
});
