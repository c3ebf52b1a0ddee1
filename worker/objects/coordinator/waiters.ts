/**
 * Callers waiting on something about one id (a scan's end, its next event), woken by whoever makes it happen or
 * by their own timeout, whichever comes first. In memory: a waiter lives as long as the request that waits.
 */
export class Waiters {
  readonly #byId = new Map<string, Set<() => void>>();

  /** Resolves when `wake(id)` runs or `ms` passes. */
  sleep(id: string, ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const set = this.#byId.get(id) ?? new Set();
      const timer = setTimeout(wake, ms);
      function wake() {
        clearTimeout(timer);
        set.delete(wake);
        resolve();
      }
      set.add(wake);
      this.#byId.set(id, set);
    });
  }

  wake(id: string): void {
    for (const wake of this.#byId.get(id) ?? []) wake();
    this.#byId.delete(id);
  }
}
