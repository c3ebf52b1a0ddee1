/**
 * The live stream of one scan's dashboard page. The Coordinator already streams a scan's events (the same SSE
 * as GET /v1/scans/:id/events, closed when the scan ends or its reader's token is revoked); this turns each burst of
 * them into a `snapshot` frame of the page's re-rendered sections, the frame the front page's script already
 * applies. The last frame of an ended scan says `final`, so the page stops listening instead of reconnecting.
 * Lives in the Worker, next to the routes: the Coordinator is not changed for it.
 */
const encoder = new TextEncoder();
const DEBOUNCE_MS = 250;

export interface ScanSnapshot {
  sections: Record<string, string>;
  /** Whether the scan has ended: nothing on the page will change again. */
  ended: boolean;
}

/** The frame the page's script reads (assets.ts): sections by element id, the edge's clock, and `final`. */
export function snapshotFrame(snapshot: ScanSnapshot, now: number): string {
  return `event: snapshot\ndata: ${JSON.stringify({ now, sections: snapshot.sections, final: snapshot.ended })}\n\n`;
}

/**
 * An SSE body: a snapshot now, another after each burst of `events` (debounced), a last one when `events` ends.
 * If the reader goes away, `events` is cancelled too, so the Coordinator drops its writer.
 */
export function scanPageStream(
  events: ReadableStream<Uint8Array>,
  snapshot: () => Promise<ScanSnapshot>,
): ReadableStream<Uint8Array> {
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  const writer = writable.getWriter();
  const reader = events.getReader();
  let closed = false;
  let sending = Promise.resolve();
  let pending: ReturnType<typeof setTimeout> | undefined;

  const send = (): Promise<void> =>
    (sending = sending.then(async () => {
      if (closed) return;
      const frame = snapshotFrame(await snapshot(), Date.now());
      await writer.write(encoder.encode(frame));
    }));
  const stop = () => {
    closed = true;
    if (pending) clearTimeout(pending);
    reader.cancel().catch(() => {});
    writer.abort().catch(() => {});
  };

  void (async () => {
    try {
      await writer.write(encoder.encode('retry: 2000\n\n'));
      await send();
      for (;;) {
        const { done } = await reader.read();
        if (done || closed) break;
        pending ??= setTimeout(() => {
          pending = undefined;
          send().catch(stop);
        }, DEBOUNCE_MS);
      }
      if (pending) clearTimeout(pending);
      pending = undefined;
      await send();
      if (!closed) await writer.close();
    } catch {
      stop(); // the page went away, or the scan could not be read: the page's EventSource retries or gives up
    }
  })();
  return readable;
}
