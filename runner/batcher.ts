import { StringDecoder } from 'node:string_decoder';
import { MAX_OUTPUT_CHUNK_BYTES, MAX_OUTPUT_DELAY_MS, utf8ByteLength } from '../shared/protocol/index.ts';

type Stream = 'stdout' | 'stderr';

export interface BatcherOptions {
  /** Raw bytes kept per stream; past it, output is read and dropped, and the stream is marked truncated. */
  caps: Record<Stream, number>;
  onChunk: (stream: Stream, data: string) => void;
  maxChunkBytes?: number;
  maxDelayMs?: number;
}

/**
 * Turns a process's stdout and stderr into text chunks of at most 64 KiB. Output after a quiet spell goes out at
 * once (on the next turn of the event loop, so one burst is one chunk); output that follows within 250 ms of a
 * send waits for the rest of those 250 ms. So a line nmap prints alone reaches the edge without delay, and a
 * flood is at most one frame per stream per 250 ms (plus full 64 KiB chunks). UTF-8 split across reads is
 * reassembled; invalid bytes become U+FFFD. Keeps at most one chunk per stream in memory, however fast the
 * process writes.
 */
export class OutputBatcher {
  readonly truncated: Record<Stream, boolean> = { stdout: false, stderr: false };
  readonly #options: Required<BatcherOptions>;
  readonly #decoders: Record<Stream, StringDecoder> = {
    stdout: new StringDecoder('utf8'),
    stderr: new StringDecoder('utf8'),
  };
  readonly #pending: Record<Stream, string> = { stdout: '', stderr: '' };
  readonly #received: Record<Stream, number> = { stdout: 0, stderr: 0 };
  #timer: ReturnType<typeof setTimeout> | undefined;
  #lastFlushAt = Number.NEGATIVE_INFINITY;

  constructor(options: BatcherOptions) {
    this.#options = { maxChunkBytes: MAX_OUTPUT_CHUNK_BYTES, maxDelayMs: MAX_OUTPUT_DELAY_MS, ...options };
  }

  write(stream: Stream, bytes: Uint8Array): void {
    const room = this.#options.caps[stream] - this.#received[stream];
    if (room <= 0) {
      this.truncated[stream] = true;
      return;
    }
    const kept = bytes.length > room ? bytes.subarray(0, room) : bytes;
    if (kept !== bytes) this.truncated[stream] = true;
    this.#received[stream] += kept.length;
    this.#pending[stream] += this.#decoders[stream].write(Buffer.from(kept.buffer, kept.byteOffset, kept.length));
    this.#emitFull(stream);
    if (this.#pending[stream].length > 0 && this.#timer === undefined) {
      const wait = Math.max(0, this.#lastFlushAt + this.#options.maxDelayMs - Date.now());
      this.#timer = setTimeout(() => this.flush(), wait);
    }
  }

  /** Sends whatever is pending now. `end` also drains the decoders (a cut-off character becomes U+FFFD). */
  flush(end = false): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#lastFlushAt = Date.now();
    for (const stream of ['stdout', 'stderr'] as const) {
      if (end) this.#pending[stream] += this.#decoders[stream].end();
      this.#emitFull(stream);
      const rest = this.#pending[stream];
      this.#pending[stream] = '';
      if (rest.length > 0) this.#options.onChunk(stream, rest);
    }
  }

  /** Emits maximal chunks while the pending text is at least one chunk long. */
  #emitFull(stream: Stream): void {
    const max = this.#options.maxChunkBytes;
    // Text length ≤ bytes ≤ 3 × length (UTF-16 units), so short text skips the exact count.
    while (this.#pending[stream].length * 3 >= max && utf8ByteLength(this.#pending[stream]) >= max) {
      const text = this.#pending[stream];
      let end = Math.min(text.length, max);
      while (utf8ByteLength(text.slice(0, end)) > max) end = Math.floor(end * 0.9);
      // Never split a surrogate pair.
      const code = text.charCodeAt(end - 1);
      if (code >= 0xd800 && code <= 0xdbff) end--;
      this.#options.onChunk(stream, text.slice(0, end));
      this.#pending[stream] = text.slice(end);
    }
  }
}
