import { describe, expect, it } from 'vitest';
import { compareWithReplay, type ReceivedEvent } from './helpers/sse-clients.ts';

/** The check the fan-out test and the load bench rely on must see each way a stream can go wrong. */
const event = (id: number, data = `d${id}`): ReceivedEvent => ({ id, event: 'output', data, at: 0 });
const replay = [1, 2, 3, 4].map((id) => event(id));

describe('compareWithReplay', () => {
  it('finds nothing wrong with the replay itself', () => {
    expect(compareWithReplay(replay, replay)).toEqual({ lost: 0, duplicated: 0, outOfOrder: 0, altered: 0 });
  });

  it('counts lost, doubled, reordered and altered events', () => {
    expect(compareWithReplay([event(1), event(2), event(4)], replay)).toMatchObject({ lost: 1 });
    expect(compareWithReplay([event(1), event(2), event(2), event(3), event(4)], replay)).toMatchObject({
      duplicated: 1,
      outOfOrder: 1,
    });
    expect(compareWithReplay([event(2), event(1), event(3), event(4)], replay)).toMatchObject({
      outOfOrder: 1,
      lost: 0,
    });
    expect(compareWithReplay([event(1), event(2, 'forged'), event(3), event(4)], replay)).toMatchObject({ altered: 1 });
  });
});
