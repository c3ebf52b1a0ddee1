import {
  MAX_OUTPUT_CHUNK_BYTES,
  MAX_XML_BYTES,
  truncateUtf8,
  utf8ByteLength,
  type OutputStream,
} from '../../shared/protocol/index.ts';

/**
 * The edge's own cap on what a runner may store for one job. The runner caps its output too, but the edge MUST
 * NOT depend on that: a rogue runner sending more than the policy allows gets its output truncated here (counted in
 * UTF-8 bytes, the unit the policy's caps are written in), and one sending more frames than an honest runner ever
 * could (its batcher sends at most one frame per stream per 250 ms, plus full chunks) ends the job. nmap's XML
 * (stream `xml`) has a cap of its own, MAX_XML_BYTES whatever the policy: the same the runner cuts it at.
 */
export type Stream = OutputStream;

export interface OutputUsage {
  stdoutBytes: number;
  stderrBytes: number;
  xmlBytes: number;
  frames: number;
}

export interface OutputCaps {
  stdoutMaxBytes: number;
  stderrMaxBytes: number;
  /** MAX_XML_BYTES unless given (tests give a small one). */
  xmlMaxBytes?: number;
}

export type Admission =
  /** Store `data` (possibly a truncated prefix, possibly empty: the seq is still stored so acks stay contiguous). */
  | { kind: 'store'; data: string; bytes: number; truncated: boolean }
  /** More frames than the job could honestly produce: stop storing and fail the job. */
  | { kind: 'over_frame_budget'; maxFrames: number };

/**
 * Frames an honest runner can send for a job of `timeoutSec`: 2 streams × 4 per second, plus full chunks, plus its
 * XML in full chunks once nmap has ended.
 */
export function frameBudget(timeoutSec: number, caps: OutputCaps): number {
  const xmlFrames = Math.ceil((caps.xmlMaxBytes ?? MAX_XML_BYTES) / MAX_OUTPUT_CHUNK_BYTES);
  return 8 * timeoutSec + Math.ceil((caps.stdoutMaxBytes + caps.stderrMaxBytes) / 1024) + xmlFrames + 1024;
}

export function admitOutput(
  usage: OutputUsage,
  stream: Stream,
  data: string,
  caps: OutputCaps,
  maxFrames: number,
): Admission {
  if (usage.frames >= maxFrames) return { kind: 'over_frame_budget', maxFrames };
  const used = stream === 'stdout' ? usage.stdoutBytes : stream === 'stderr' ? usage.stderrBytes : usage.xmlBytes;
  const cap =
    stream === 'stdout'
      ? caps.stdoutMaxBytes
      : stream === 'stderr'
        ? caps.stderrMaxBytes
        : (caps.xmlMaxBytes ?? MAX_XML_BYTES);
  const room = Math.max(0, cap - used);
  const bytes = utf8ByteLength(data);
  if (bytes <= room) return { kind: 'store', data, bytes, truncated: false };
  const kept = truncateUtf8(data, room);
  return { kind: 'store', data: kept, bytes: utf8ByteLength(kept), truncated: true };
}
