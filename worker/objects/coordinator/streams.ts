import { TERMINAL } from '../../../shared/scan/index.ts';
import type { JobStore, StoredEvent } from '../../storage/jobs.store.ts';

const encoder = new TextEncoder();
/** Stored events written per page when a stream catches up. */
const EVENT_PAGE = 256;

type Stream = { owner: string; live: boolean };

export function sse(event: StoredEvent): string {
  return `id: ${event.eid}\nevent: ${event.type}\ndata: ${event.data}\n\n`;
}

/**
 * Open scan event streams (SSE): job id → each stream's writer → the token that opened it (revocation ends its own)
 * and whether it is live (new events are written to it) or still paging through the stored history.
 */
export class ScanStreams {
  readonly #jobs: JobStore;
  readonly #byJob = new Map<string, Map<WritableStreamDefaultWriter<Uint8Array>, Stream>>();

  constructor(jobs: JobStore) {
    this.#jobs = jobs;
  }

  /**
   * A scan's event stream: the stored history after `lastEventId`, in pages (a large output is never loaded whole),
   * then live events. The writer turns live only once a page comes back empty, with no await in between, so no
   * event is lost or sent twice; a stream that catches up with an ended scan closes.
   */
  open(jobId: string, lastEventId: number, ownerTokenId: string): Response {
    if (!this.#jobs.get(jobId)) return new Response('not found', { status: 404 });
    const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
    const writer = writable.getWriter();
    const writers = this.#byJob.get(jobId) ?? new Map<WritableStreamDefaultWriter<Uint8Array>, Stream>();
    const stream: Stream = { owner: ownerTokenId, live: false };
    writers.set(writer, stream);
    this.#byJob.set(jobId, writers);
    const forget = () => this.#forget(jobId, writer);
    const pageThroughHistory = async () => {
      await writer.write(encoder.encode('retry: 2000\n\n'));
      let after = lastEventId;
      for (;;) {
        if (!this.#byJob.get(jobId)?.has(writer)) return; // closed meanwhile (revocation)
        const page = this.#jobs.events(jobId, after, EVENT_PAGE);
        if (page.length === 0) break;
        await writer.write(encoder.encode(page.map(sse).join('')));
        after = page.at(-1)!.eid;
      }
      if (TERMINAL.has(this.#jobs.get(jobId)!.status)) {
        forget();
        await writer.close();
      } else {
        stream.live = true;
      }
    };
    pageThroughHistory().catch(forget);
    return new Response(readable, {
      headers: {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        'x-accel-buffering': 'no',
      },
    });
  }

  /** Writes a new event to the job's live streams. */
  publish(jobId: string, event: StoredEvent): void {
    const chunk = encoder.encode(sse(event));
    for (const [writer, stream] of this.#byJob.get(jobId) ?? []) {
      if (stream.live) void writer.write(chunk).catch(() => this.#forget(jobId, writer));
    }
  }

  /** The job ended: its live streams close (streams still paging close themselves when they reach the end). */
  closeLive(jobId: string): void {
    for (const [writer, stream] of this.#byJob.get(jobId) ?? []) {
      if (!stream.live) continue;
      void writer.close().catch(() => {});
      this.#forget(jobId, writer);
    }
  }

  /** Ends every stream a token opened; returns how many. */
  closeOwnedBy(tokenId: string): number {
    let closed = 0;
    for (const [jobId, writers] of this.#byJob) {
      for (const [writer, { owner }] of writers) {
        if (owner !== tokenId) continue;
        this.#forget(jobId, writer);
        void writer.close().catch(() => {});
        closed++;
      }
    }
    return closed;
  }

  #forget(jobId: string, writer: WritableStreamDefaultWriter<Uint8Array>): void {
    const writers = this.#byJob.get(jobId);
    writers?.delete(writer);
    if (writers?.size === 0) this.#byJob.delete(jobId);
  }
}
