import { env, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { getCoordinator, type Coordinator } from '../objects/coordinator.do.ts';
import { decideSecondHello, noteConflict } from '../domain/link-conflict.ts';
import { ADMIN, api, json, mintToken, runnersOnOwnNets, TestRunner } from './helpers/runner-client.ts';

/**
 * A runner token must not be able to flap: two hosts holding one token used to replace each other on every
 * reconnect and every scan failed runner_lost. The live link keeps the token, the second host is refused with a
 * clear error and shown on the dashboard, and scans on the live link finish normally.
 */
const newRunner = runnersOnOwnNets('conflict-runner', 240);
const A = { instanceId: 'instance-aaaaaaaa', host: 'lab-a.example' };
const B = { instanceId: 'instance-bbbbbbbb', host: 'lab-b.example' };

async function logIn(): Promise<string> {
  const res = await api('/dashboard/login', {
    method: 'POST',
    body: new URLSearchParams({ token: ADMIN }),
    redirect: 'manual',
  });
  return res.headers.get('set-cookie')!.split(';')[0]!;
}

describe('one runner token, one live link', () => {
  it('refuses a second host while the first is live; the first keeps its link and its scans', async () => {
    const { net, minted, runner: first } = await newRunner(A);
    const second = await TestRunner.connect(minted.token);
    if (second instanceof Response) throw new Error(`upgrade refused: ${second.status}`);
    second.send({
      type: 'hello',
      protocol: 1,
      runnerVersion: '0.1.0',
      nmapVersion: '7.93',
      privileged: false,
      maxConcurrency: 2,
      networks: [`127.${net}.0.0/16`],
      resume: [],
      ...B,
    });
    const refusal = await second.next((m) => m.type === 'error');
    expect(refusal).toMatchObject({ type: 'error', code: 'runner_in_use' });
    expect((refusal as { message: string }).message).toContain('lab-a.example');
    expect((await second.closedWith()).code).toBe(4409);

    // The first link is untouched: a scan goes to it and finishes.
    const owner = await mintToken('scan', `conflict-owner-${net}`);
    const from = first.received.length;
    const created = await json(
      await api('/v1/scans', { method: 'POST', token: owner, json: { target: `127.${net}.0.1`, args: '-sT -p 80' } }),
    );
    const dispatch = (await first.next((m) => m.type === 'job.dispatch', 5000, from)) as { jobId: string };
    expect(dispatch.jobId).toBe(created.scan.id);
    first.send({ type: 'job.accepted', jobId: dispatch.jobId });
    first.finish(dispatch.jobId, ['Nmap done\n']);
    const done = await json(await api(`/v1/scans/${dispatch.jobId}?wait=5`, { token: owner }));
    expect(done.scan.status).toBe('succeeded');
    expect(first.closed).toBeUndefined();

    // Admins see the conflict, in the API and on the dashboard.
    const listed = (await json(await api('/v1/runners', { token: ADMIN }))).runners.find(
      (r: { id: string }) => r.id === minted.id,
    );
    expect(listed).toMatchObject({
      online: true,
      host: 'lab-a.example',
      conflict: { liveHost: 'lab-a.example', refusedHost: 'lab-b.example', attempts: 1 },
    });
    const page = await (await api('/dashboard', { headers: { cookie: await logIn() } })).text();
    expect(page).toContain('same runner token in use from two hosts: lab-a.example (live) and lab-b.example (refused)');
    const audit = await json(await api('/v1/audit?limit=50', { token: ADMIN }));
    expect(
      audit.entries.some(
        (e: { action: string; decision: string }) => e.action === 'runner.conflict' && e.decision === 'refused',
      ),
    ).toBe(true);
  });

  it('lets the same instance reconnect over a half-dead link (the old link is replaced)', async () => {
    const { net, minted, runner: first } = await newRunner(A);
    const again = await TestRunner.ready(minted.token, { networks: [`127.${net}.0.0/16`], ...A });
    expect((await first.closedWith()).code).toBe(4000);
    expect(again.closed).toBeUndefined();
    again.close();
  });

  it('lets another host take over once the live link has missed its heartbeats', async () => {
    const { net, minted, runner: first } = await newRunner(A);
    await runInDurableObject(getCoordinator(env), (coordinator: Coordinator, state) => {
      state.storage.sql.exec('UPDATE runners SET last_seen = ? WHERE id = ?', Date.now() - 100_000, minted.id);
      coordinator.dropCaches();
    });
    const second = await TestRunner.ready(minted.token, { networks: [`127.${net}.0.0/16`], ...B });
    expect((await first.closedWith()).code).toBe(4000);
    const listed = (await json(await api('/v1/runners', { token: ADMIN }))).runners.find(
      (r: { id: string }) => r.id === minted.id,
    );
    expect(listed).toMatchObject({ online: true, host: 'lab-b.example' });
    second.close();
  });
});

describe('decideSecondHello and noteConflict (pure)', () => {
  const live = { instanceId: 'a', lastHeardAt: 1_000 };
  it('replaces for the same instance, refuses another while live, lets it take over after the window', () => {
    expect(decideSecondHello(live, 'a', 2_000, 90_000)).toBe('replace');
    expect(decideSecondHello(live, 'b', 2_000, 90_000)).toBe('refuse');
    expect(decideSecondHello(live, 'b', 91_000, 90_000)).toBe('replace');
    // A runner that names no instance keeps the old rule (the newest connection wins).
    expect(decideSecondHello({ instanceId: null, lastHeardAt: 1_000 }, 'b', 2_000, 90_000)).toBe('replace');
  });
  it('counts attempts of one pair of hosts, and starts over for another pair', () => {
    const one = noteConflict(null, 'a', 'b', 0);
    const two = noteConflict(one, 'a', 'b', 1_000);
    expect(two).toMatchObject({ attempts: 2, firstAt: 0, lastAt: 1_000 });
    expect(noteConflict(two, 'a', 'c', 2_000)).toMatchObject({ attempts: 1, refusedHost: 'c' });
  });
});
