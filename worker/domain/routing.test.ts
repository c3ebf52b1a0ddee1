import { describe, expect, it } from 'vitest';
import { validateScanRequest, type Target } from '../../shared/policy/index.ts';
import * as breaker from './breaker.ts';
import { chooseRunner, tokenLimit, type RunnerView } from './routing.ts';

const settings = { failureThreshold: 1, recoveryTimeoutSec: 30, maxRecoveryTimeoutSec: 60 };

function runner(id: string, networks: string[], extra: Partial<RunnerView> = {}): RunnerView {
  return {
    id,
    name: id,
    networks,
    privileged: false,
    fenced: false,
    maxConcurrency: 2,
    running: 0,
    breaker: breaker.newBreaker(settings),
    ...extra,
  };
}

function targets(target: string | string[]): Target[] {
  const r = validateScanRequest({ target });
  if (!r.ok) throw new Error(r.error.message);
  return r.targets;
}

const open = breaker.onFailure(
  breaker.newBreaker(settings),
  0,
  'j',
  { type: 'execution_error', message: 'x' },
  settings,
  () => 0.5,
);

describe('chooseRunner', () => {
  it('with requireFence, routes only to fenced runners, and names the unfenced ones when none covers the targets', () => {
    const fenced = runner('fenced', ['10.1.0.0/16'], { fenced: true, running: 1 });
    const unfenced = runner('unfenced', ['10.1.0.0/16']);
    const narrowUnfenced = runner('narrow-unfenced', ['10.1.2.0/24']);
    const all = [fenced, unfenced, narrowUnfenced];
    // Off (the default): the narrowest, least loaded runner, fenced or not.
    expect(chooseRunner({ targets: targets('10.1.2.3'), needsPrivilege: false }, all, 0)).toEqual({
      kind: 'dispatch',
      runnerId: 'narrow-unfenced',
    });
    expect(chooseRunner({ targets: targets('10.1.2.3'), needsPrivilege: false, requireFence: true }, all, 0)).toEqual({
      kind: 'dispatch',
      runnerId: 'fenced',
    });
    const refused = chooseRunner(
      { targets: targets('10.1.2.3'), needsPrivilege: false, requireFence: true },
      [unfenced, narrowUnfenced, runner('elsewhere', ['10.9.0.0/16'], { fenced: true })],
      0,
    );
    expect(refused.kind === 'refuse' && refused.error).toMatchObject({
      type: 'no_runner',
      message:
        'The policy requires a kernel fence (requireFence), and the runners that cover 10.1.2.3 run unfenced (unfenced, narrow-unfenced)',
      recoverySuggestion: expect.stringMatching(/CAP_NET_ADMIN with nftables.*requireFence off/),
      details: { unfencedRunners: ['unfenced', 'narrow-unfenced'] },
    });
    // A fenced runner at capacity: the scan waits for it, it does not spill onto an unfenced one.
    expect(
      chooseRunner(
        { targets: targets('10.1.2.3'), needsPrivilege: false, requireFence: true },
        [{ ...fenced, running: 2 }, unfenced],
        0,
      ),
    ).toEqual({ kind: 'queue', reason: 'capacity' });
  });

  it('picks the narrowest network match, then the least loaded', () => {
    const runners = [
      runner('wide', ['10.0.0.0/8']),
      runner('narrow', ['10.1.0.0/16']),
      runner('narrow2', ['10.1.0.0/16'], { running: 1 }),
    ];
    expect(chooseRunner({ targets: targets('10.1.2.3'), needsPrivilege: false }, runners, 0)).toEqual({
      kind: 'dispatch',
      runnerId: 'narrow',
    });
    expect(chooseRunner({ targets: targets('10.2.0.1'), needsPrivilege: false }, runners, 0)).toEqual({
      kind: 'dispatch',
      runnerId: 'wide',
    });
  });

  it('requires every target covered by one runner, networks wholly inside', () => {
    const runners = [runner('a', ['10.1.0.0/16']), runner('b', ['10.2.0.0/16'])];
    const split = chooseRunner({ targets: targets(['10.1.0.1', '10.2.0.1']), needsPrivilege: false }, runners, 0);
    expect(split.kind === 'refuse' && split.error).toMatchObject({ type: 'no_runner' });
    expect(split.kind === 'refuse' && split.error.recoverySuggestion).toContain('10.1.0.0/16, 10.2.0.0/16');
    const net = chooseRunner(
      { targets: targets('10.1.0.0/22'), needsPrivilege: false },
      [runner('c', ['10.1.0.0/23'])],
      0,
    );
    expect(net.kind).toBe('refuse');
  });

  it('lets hostnames go to any runner (the runner resolves and checks them)', () => {
    expect(
      chooseRunner({ targets: targets('db.lab.internal'), needsPrivilege: false }, [runner('a', ['10.1.0.0/16'])], 0),
    ).toEqual({ kind: 'dispatch', runnerId: 'a' });
  });

  it('sends raw-socket scans only to privileged runners', () => {
    const runners = [runner('plain', ['10.0.0.0/8']), runner('raw', ['10.0.0.0/8'], { privileged: true, running: 1 })];
    expect(chooseRunner({ targets: targets('10.0.0.1'), needsPrivilege: true }, runners, 0)).toEqual({
      kind: 'dispatch',
      runnerId: 'raw',
    });
    const none = chooseRunner({ targets: targets('10.0.0.1'), needsPrivilege: true }, [runners[0]!], 0);
    expect(none.kind === 'refuse' && none.error.message).toMatch(/raw sockets/);
  });

  it('skips open breakers and says when to retry if all are open', () => {
    const runners = [runner('broken', ['10.0.0.0/8'], { breaker: open }), runner('ok', ['10.0.0.0/8'], { running: 1 })];
    expect(chooseRunner({ targets: targets('10.0.0.1'), needsPrivilege: false }, runners, 0)).toEqual({
      kind: 'dispatch',
      runnerId: 'ok',
    });
    const all = chooseRunner({ targets: targets('10.0.0.1'), needsPrivilege: false }, [runners[0]!], 10_000);
    expect(all.kind === 'refuse' && all.error).toMatchObject({ type: 'circuit_breaker_open', retryAfterSec: 20 });
  });

  it('lets one probe through a half-open breaker', () => {
    const half = breaker.onTimer(open, 30_000);
    expect(
      chooseRunner(
        { targets: targets('10.0.0.1'), needsPrivilege: false },
        [runner('r', ['10.0.0.0/8'], { breaker: half })],
        30_000,
      ).kind,
    ).toBe('dispatch');
    const probing = breaker.onDispatch(half, 'p');
    expect(
      chooseRunner(
        { targets: targets('10.0.0.1'), needsPrivilege: false },
        [runner('r', ['10.0.0.0/8'], { breaker: probing })],
        30_000,
      ).kind,
    ).toBe('refuse');
  });

  it('keeps a token to its share of the slots that can serve it, so another token still finds one', () => {
    const share = { maxConcurrentScans: 4, maxSlotSharePercent: 50 };
    const pool = [runner('a', ['10.0.0.0/8'], { maxConcurrency: 2, running: 1 })];
    // 2 slots, 50 %: a token running 1 waits; another token running none is dispatched to the free slot.
    expect(
      chooseRunner({ targets: targets('10.0.0.1'), needsPrivilege: false, share: { running: 1, ...share } }, pool, 0),
    ).toEqual({ kind: 'queue', reason: 'token_share', limit: 1 });
    expect(
      chooseRunner({ targets: targets('10.0.0.1'), needsPrivilege: false, share: { running: 0, ...share } }, pool, 0),
    ).toEqual({ kind: 'dispatch', runnerId: 'a' });
    // The absolute cap holds on a large pool; one slot is always allowed.
    const big = [runner('b', ['10.0.0.0/8'], { maxConcurrency: 64 })];
    expect(
      chooseRunner({ targets: targets('10.0.0.1'), needsPrivilege: false, share: { running: 4, ...share } }, big, 0),
    ).toMatchObject({ reason: 'token_share', limit: 4 });
    expect(tokenLimit(1, share)).toBe(1);
    expect(tokenLimit(3, share)).toBe(2);
  });

  it('queues when every candidate is at capacity, and refuses when none is connected', () => {
    expect(
      chooseRunner(
        { targets: targets('10.0.0.1'), needsPrivilege: false },
        [runner('busy', ['10.0.0.0/8'], { running: 2 })],
        0,
      ),
    ).toEqual({ kind: 'queue', reason: 'capacity' });
    const none = chooseRunner({ targets: targets('10.0.0.1'), needsPrivilege: false }, [], 0);
    expect(none.kind === 'refuse' && none.error.message).toBe('No runner is connected');
  });
});
