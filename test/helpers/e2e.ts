import { afterAll, beforeAll } from 'vitest';
import { Stack } from './stack.ts';

export { LinkRelay, processGone, Stack, type ApiAnswer } from './stack.ts';

/** One stack for the whole test file. */
export function useStack(vars: Record<string, string> = {}): Stack {
  const stack = new Stack(vars);
  beforeAll(() => stack.start(), 90_000);
  afterAll(() => stack.stop(), 60_000);
  return stack;
}
