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
 * Turns a process's stdout and stderr into text chunks of at most 64 KiB, sent at most 250 ms after the first
 * byte of a chunk arrived. UTF-8 split across reads is reassembled; invalid bytes become U+FFFD. Keeps at
 * most one chunk per stream in memory, however fast the process writes.
 */
export class OutputBatcher {
  readonly truncated: Record<Stream, boolean> = { stdout: false, stderr: false };
  readonly #options: Required<BatcherOptions>;
  readonly #decoders: Record<Stream, StringDecoder> = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };
  readonly #pending: Record<Stream, string> = { stdout: '', stderr: '' };
  readonly #received: Record<Stream, number> = { stdout: 0, stderr: 0 };
  #timer: ReturnType<typeof setTimeout> | undefined;

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
      this.#timer = setTimeout(() => this.flush(), this.#options.maxDelayMs);
    }
  }

  /** Sends whatever is pending now. `end` also drains the decoders (a cut-off character becomes U+FFFD). */
  flush(end = false): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
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
