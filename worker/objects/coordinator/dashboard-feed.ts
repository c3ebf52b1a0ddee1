/**
 * The dashboard's live feed inside the Coordinator: open SSE responses, each sent a `data` frame (the dashboard's
 * data as JSON, never HTML: the Worker renders it, worker/http/dashboard/front-live.ts) when state changes (debounced, so
 * a burst of output is one frame) and every 15 s (last-seen times, the chart's minute). Runs only while a
 * dashboard is open.
 */
const encoder = new TextEncoder();
const DEBOUNCE_MS = 250;
const REFRESH_MS = 15_000;

export class DashboardFeed {
  readonly #writers = new Set<WritableStreamDefaultWriter<Uint8Array>>();
  /** The token behind each open dashboard (the session's), so revoking it closes that dashboard's stream. */
  readonly #owners = new Map<WritableStreamDefaultWriter<Uint8Array>, string>();
  readonly #frame: () => Promise<string>;
  #pending: ReturnType<typeof setTimeout> | undefined;
  #refresh: ReturnType<typeof setInterval> | undefined;

  constructor(frame: () => Promise<string>) {
    this.#frame = frame;
  }

  /** A new SSE response that starts with the current snapshot. */
  stream(ownerTokenId: string): Response {
    const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
    const writer = writable.getWriter();
    this.#writers.add(writer);
    this.#owners.set(writer, ownerTokenId);
    this.#refresh ??= setInterval(() => void this.#broadcast(), REFRESH_MS);
    void this.#send([writer]);
    return new Response(readable, {
      headers: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store' },
    });
  }

  /** Something a dashboard shows has changed. */
  notify(): void {
    if (this.#writers.size === 0 || this.#pending) return;
    this.#pending = setTimeout(() => {
      this.#pending = undefined;
      void this.#broadcast();
    }, DEBOUNCE_MS);
  }

  async #broadcast(): Promise<void> {
    await this.#send([...this.#writers]);
  }

  async #send(writers: Array<WritableStreamDefaultWriter<Uint8Array>>): Promise<void> {
    if (!writers.length) return;
    const chunk = encoder.encode(await this.#frame());
    for (const writer of writers) {
      writer.write(chunk).catch(() => this.#drop(writer));
    }
  }

  /** Closes the streams opened under a token; returns how many. */
  closeOwnedBy(tokenId: string): number {
    let closed = 0;
    for (const [writer, owner] of this.#owners) {
      if (owner !== tokenId) continue;
      this.#forget(writer);
      writer.close().catch(() => {});
      closed++;
    }
    return closed;
  }

  #drop(writer: WritableStreamDefaultWriter<Uint8Array>): void {
    this.#forget(writer);
    writer.abort().catch(() => {});
  }

  #forget(writer: WritableStreamDefaultWriter<Uint8Array>): void {
    this.#writers.delete(writer);
    this.#owners.delete(writer);
    if (this.#writers.size === 0 && this.#refresh) {
      clearInterval(this.#refresh);
      this.#refresh = undefined;
    }
  }
}
