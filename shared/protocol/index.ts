import { z } from 'zod';
import { ERROR_TYPES, type JsonValue } from '../errors/index.ts';
import { ReportSchema } from '../nmap-xml/report.ts';
import { MAX_SCRIPT_VALUE } from '../policy/scripts.ts';
import { canonicalNetwork } from '../policy/targets.ts';

/**
 * The runner link: JSON text frames over one WebSocket, validated with these schemas at both ends.
 * One schema per message; every object is strict (an unknown key is a malformed frame, not a hint).
 */

/** The protocol this code speaks. A `hello` with any other version gets an `error` and a close. */
export const PROTOCOL_VERSION = 1;
export const SUPPORTED_PROTOCOLS: readonly number[] = [PROTOCOL_VERSION];

/** Most bytes of output in one `job.output` frame. */
export const MAX_OUTPUT_CHUNK_BYTES = 64 * 1024;
/** Longest wait before buffered output is sent as a `job.output` frame. */
export const MAX_OUTPUT_DELAY_MS = 250;
/** Largest frame either end accepts (a `job.finished` with a big report is the largest). */
export const MAX_FRAME_BYTES = 4 * 1024 * 1024;
/**
 * Most bytes of nmap's XML (`-oX`) a job keeps, at the runner and again at the edge: past it the document is cut
 * (no longer well-formed) and flagged. It travels as `job.output` frames of stream `xml` (≤ MAX_OUTPUT_CHUNK_BYTES
 * each, sequenced and acked like output), so no frame, WebSocket message or stored row comes near its own limit.
 * A /24 with service detection and default scripts writes well under 1 MiB; 8 MiB leaves room for a few thousand
 * hosts or verbose scripts.
 */
export const MAX_XML_BYTES = 8 * 1024 * 1024;

/**
 * Heartbeat frames. They are fixed strings, not schema messages, so the edge can answer them with the
 * Durable Object hibernation auto-response without waking the object: the runner sends PING_FRAME every
 * `heartbeatSec` and treats a link with no PONG_FRAME for two intervals as dead.
 */
export const PING_FRAME = '{"type":"ping"}';
export const PONG_FRAME = '{"type":"pong"}';

/**
 * Acks: `ack {jobId, seq}` acknowledges every output frame of the job up to `seq`. A `job.finished` counts as
 * seq `lastSeq + 1`, so the runner can drop a finished job only when the edge has stored its result.
 */
export function finishedAckSeq(lastSeq: number): number {
  return lastSeq + 1;
}

/**
 * The longest prefix of `s` that is at most `maxBytes` bytes of UTF-8, never splitting a character (a surrogate
 * pair counts as one 4-byte character).
 */
export function truncateUtf8(s: string, maxBytes: number): string {
  let bytes = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const pair = c >= 0xd800 && c <= 0xdbff && i + 1 < s.length;
    const size = c < 0x80 ? 1 : c < 0x800 ? 2 : pair ? 4 : 3;
    if (bytes + size > maxBytes) return s.slice(0, i);
    bytes += size;
    if (pair) i++;
  }
  return s;
}

/** UTF-8 length of a string without allocating (TextEncoder would copy it). */
export function utf8ByteLength(s: string): number {
  let bytes = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

const JobId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'job ids are 1–64 letters, digits, _ or -');
const Seq = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);
const LastSeq = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const Cidr = z
  .string()
  .max(64)
  .refine((s) => canonicalNetwork(s) === s, 'a canonical CIDR (network address, compressed IPv6)');

/** Deepest nesting and largest JSON size of error details a peer may send. */
export const MAX_DETAILS_DEPTH = 4;
export const MAX_DETAILS_BYTES = 32 * 1024;

/**
 * Whether a JSON value nests at most `maxDepth` levels, walked without recursion and given up on at the first
 * level too deep: a hostile peer's 2,500-deep value is refused here, never walked or serialized whole.
 */
export function nestsAtMost(value: unknown, maxDepth: number): boolean {
  let level: unknown[] = [value];
  for (let depth = 0; level.length > 0; depth++) {
    const next: unknown[] = [];
    for (const v of level) {
      if (v !== null && typeof v === 'object') next.push(...(Array.isArray(v) ? v : Object.values(v)));
    }
    if (next.length > 0 && depth + 1 > maxDepth) return false;
    level = next;
  }
  return true;
}

/** Error details from a peer: a small JSON object, bounded in depth and size. */
const Details = z
  // Values are not walked here (a hostile depth is refused by the bound below); a parsed frame is JSON already.
  .record(z.string().max(64), z.custom<JsonValue | undefined>())
  .refine((d) => nestsAtMost(d, MAX_DETAILS_DEPTH), `error details nest at most ${MAX_DETAILS_DEPTH} levels`)
  .refine(
    (d) => JSON.stringify(d).length <= MAX_DETAILS_BYTES,
    `error details are at most ${MAX_DETAILS_BYTES} bytes of JSON`,
  );

export const ScanErrorSchema = z.strictObject({
  type: z.enum(ERROR_TYPES),
  message: z.string().min(1).max(2048),
  recoverySuggestion: z.string().min(1).max(2048),
  retryAfterSec: z.number().int().min(0).optional(),
  details: Details.optional(),
});

// ── runner → edge ────────────────────────────────────────────────────────────────────────────────────

export const HelloSchema = z.strictObject({
  type: z.literal('hello'),
  protocol: z.number().int().min(0),
  runnerVersion: z.string().min(1).max(64),
  nmapVersion: z.string().max(64).nullable(),
  privileged: z.boolean(),
  maxConcurrency: z.number().int().min(1).max(64),
  networks: z.array(Cidr).min(1).max(64),
  /**
   * This runner process (random, new at each start) and the host it runs on (shown to admins). One runner token
   * MUST have one live link: another instance saying hello while the link is live is refused (`runner_in_use`);
   * the same instance reconnecting replaces its old, possibly half-dead, link.
   */
  instanceId: z
    .string()
    .regex(/^[A-Za-z0-9_-]{8,64}$/)
    .optional(),
  host: z
    .string()
    .min(1)
    .max(253)
    .regex(/^[\x21-\x7e]+$/, 'printable ASCII, no spaces')
    .optional(),
  /**
   * The kernel fence (runner/fence.ts): enforced when every scan's packets can reach only `networks`. Absent from
   * older runners, which count as unfenced.
   */
  fence: z.strictObject({ enforced: z.boolean(), detail: z.string().min(1).max(200) }).optional(),
  /** Jobs this runner still holds from before a reconnect: where its output got to, and whether it ended. */
  resume: z.array(z.strictObject({ jobId: JobId, lastSeq: LastSeq, finished: z.boolean() })).max(256),
});

export const JobAcceptedSchema = z.strictObject({ type: z.literal('job.accepted'), jobId: JobId });

export const JobRejectedSchema = z.strictObject({
  type: z.literal('job.rejected'),
  jobId: JobId,
  error: ScanErrorSchema,
});

/**
 * Streams of a job's `job.output` frames: nmap's normal output as it runs, and, after nmap has ended and before
 * `job.finished`, its XML document exactly as nmap wrote it, cut at MAX_XML_BYTES (see `JobFinished.xml`).
 */
export const OUTPUT_STREAMS = ['stdout', 'stderr', 'xml'] as const;
export type OutputStream = (typeof OUTPUT_STREAMS)[number];

export const JobOutputSchema = z.strictObject({
  type: z.literal('job.output'),
  jobId: JobId,
  seq: Seq,
  stream: z.enum(OUTPUT_STREAMS),
  data: z
    .string()
    .min(1)
    .refine(
      (d) => utf8ByteLength(d) <= MAX_OUTPUT_CHUNK_BYTES,
      `at most ${MAX_OUTPUT_CHUNK_BYTES} bytes of output per frame`,
    ),
});

export const JobProgressSchema = z.strictObject({
  type: z.literal('job.progress'),
  jobId: JobId,
  /** Percent done of the current phase (nmap reports each phase, e.g. Connect Scan, Service scan, on its own). */
  percent: z.number().min(0).max(100),
  etaSec: z.number().int().min(0).optional(),
  phase: z.string().min(1).max(64).optional(),
});

export const JobFinishedSchema = z.strictObject({
  type: z.literal('job.finished'),
  jobId: JobId,
  /** Seq of the last `job.output` of this job (0 if it wrote nothing): the edge has everything once it has this. */
  lastSeq: LastSeq,
  exitCode: z.number().int().nullable(),
  signal: z.string().max(16).nullable(),
  timedOut: z.boolean(),
  cancelled: z.boolean(),
  durationMs: z.number().int().min(0),
  truncated: z.strictObject({ stdout: z.boolean(), stderr: z.boolean() }),
  report: ReportSchema.nullable(),
  /**
   * nmap's XML as sent in the job's `xml` output frames: its size in UTF-8 bytes and whether it was cut at
   * MAX_XML_BYTES; null when nmap wrote none. Absent from runners older than this field, which send no XML.
   */
  xml: z
    .strictObject({ bytes: z.number().int().min(0).max(MAX_XML_BYTES), truncated: z.boolean() })
    .nullable()
    .optional(),
  /** Why the job failed when nmap could not run or its output could not be read (spawn failure, bad XML). */
  error: ScanErrorSchema.nullable(),
});

export const RunnerMessageSchema = z.discriminatedUnion('type', [
  HelloSchema,
  JobAcceptedSchema,
  JobRejectedSchema,
  JobOutputSchema,
  JobProgressSchema,
  JobFinishedSchema,
]);

// ── edge → runner ────────────────────────────────────────────────────────────────────────────────────

export const WelcomeSchema = z.strictObject({
  type: z.literal('welcome'),
  runnerId: z.string().min(1).max(64),
  heartbeatSec: z.number().int().min(5).max(300),
});

/** What the runner re-validates a dispatched argv with (it may narrow this further with its own settings). */
export const DispatchPolicySchema = z.strictObject({
  allowedHostSuffixes: z.array(z.string().min(3).max(253)).max(64),
  allowIntrusive: z.boolean(),
  allowEvasion: z.boolean(),
  maxHosts: z.number().int().min(1).max(65536),
  maxTargets: z.number().int().min(1).max(256),
  maxPortRanges: z.number().int().min(1).max(1000),
});

export const JobDispatchSchema = z.strictObject({
  type: z.literal('job.dispatch'),
  jobId: JobId,
  /**
   * Canonical argv from validateScanRequest: options, `--`, targets. Never run through a shell. A token is at most
   * 255 bytes, except the explicit `--script` list a category expands to (at most MAX_SCRIPT_VALUE).
   */
  argv: z
    .array(z.string().min(1).max(MAX_SCRIPT_VALUE))
    .min(2)
    .max(300)
    .refine(
      (argv) => argv.every((t, i) => t.length <= 255 || argv[i - 1] === '--script'),
      'argv tokens are at most 255 bytes, but for the --script list',
    ),
  timeoutSec: z.number().int().min(1).max(3600),
  policy: DispatchPolicySchema,
  limits: z.strictObject({
    stdoutMaxBytes: z
      .number()
      .int()
      .min(1024)
      .max(16 * 1024 * 1024),
    stderrMaxBytes: z
      .number()
      .int()
      .min(1024)
      .max(4 * 1024 * 1024),
  }),
});

export const JobCancelSchema = z.strictObject({ type: z.literal('job.cancel'), jobId: JobId });

export const AckSchema = z.strictObject({ type: z.literal('ack'), jobId: JobId, seq: LastSeq });

export const LinkErrorSchema = z.strictObject({
  type: z.literal('error'),
  /**
   * `unsupported_protocol`, `revoked`, `unauthorized` and `networks_not_granted` end the runner; the others are
   * worth a reconnect.
   */
  code: z.enum([
    'unsupported_protocol',
    'unauthorized',
    'revoked',
    'malformed_frame',
    'duplicate_hello',
    'networks_not_granted',
    'runner_in_use',
    'internal',
  ]),
  message: z.string().min(1).max(2048),
  recoverySuggestion: z.string().min(1).max(2048),
  supportedProtocols: z.array(z.number().int()).optional(),
});

/**
 * Sent right after the welcome to a runner whose hello said a version older than the edge's build
 * (runner-version.ts). A frame of its own, not a welcome field: runners up to 0.1.0 parse the welcome strictly and
 * would never be welcomed; they log this frame as malformed and carry on.
 */
export const UpdateAvailableSchema = z.strictObject({
  type: z.literal('runner.update_available'),
  runnerVersion: z.string().min(1).max(64),
  latestRunnerVersion: z.string().min(1).max(64),
});

/**
 * What this edge build takes beyond protocol 1, sent right after the welcome (and any update_available): `xml`, nmap's
 * XML as `xml` output frames and `job.finished.xml`. A runner sends what a feature covers only to an edge that
 * announced it (an older edge would refuse those frames as malformed and never take the job's result); it keeps the
 * last announcement across reconnects. Runners older than this frame log it as malformed and carry on. A frame of
 * its own for the same reason as UpdateAvailableSchema; names are open strings, so a newer edge's features parse.
 */
export const EDGE_FEATURES: readonly string[] = ['xml'];

export const EdgeFeaturesSchema = z.strictObject({
  type: z.literal('edge.features'),
  features: z.array(z.string().min(1).max(32)).max(32),
});

export const EdgeMessageSchema = z.discriminatedUnion('type', [
  WelcomeSchema,
  JobDispatchSchema,
  JobCancelSchema,
  AckSchema,
  LinkErrorSchema,
  UpdateAvailableSchema,
  EdgeFeaturesSchema,
]);

export type Hello = z.infer<typeof HelloSchema>;
export type JobAccepted = z.infer<typeof JobAcceptedSchema>;
export type JobRejected = z.infer<typeof JobRejectedSchema>;
export type JobOutput = z.infer<typeof JobOutputSchema>;
export type JobProgress = z.infer<typeof JobProgressSchema>;
export type JobFinished = z.infer<typeof JobFinishedSchema>;
export type RunnerMessage = z.infer<typeof RunnerMessageSchema>;
export type Welcome = z.infer<typeof WelcomeSchema>;
export type DispatchPolicy = z.infer<typeof DispatchPolicySchema>;
export type JobDispatch = z.infer<typeof JobDispatchSchema>;
export type JobCancel = z.infer<typeof JobCancelSchema>;
export type Ack = z.infer<typeof AckSchema>;
export type LinkError = z.infer<typeof LinkErrorSchema>;
export type UpdateAvailable = z.infer<typeof UpdateAvailableSchema>;
export type EdgeFeatures = z.infer<typeof EdgeFeaturesSchema>;
export type EdgeMessage = z.infer<typeof EdgeMessageSchema>;

export type FrameResult<T> = { ok: true; message: T } | { ok: false; problem: string };

function parseFrame<T>(schema: z.ZodType<T>, frame: unknown): FrameResult<T> {
  if (typeof frame !== 'string') return { ok: false, problem: 'frames are JSON text, not binary' };
  if (frame.length > MAX_FRAME_BYTES || utf8ByteLength(frame) > MAX_FRAME_BYTES) {
    return { ok: false, problem: `frame is larger than ${MAX_FRAME_BYTES} bytes` };
  }
  let json: unknown;
  try {
    json = JSON.parse(frame);
  } catch {
    return { ok: false, problem: 'frame is not valid JSON' };
  }
  const parsed = schema.safeParse(json);
  if (parsed.success) return { ok: true, message: parsed.data };
  const issue = parsed.error.issues[0];
  const kind =
    typeof json === 'object' && json !== null && 'type' in json ? String((json as { type: unknown }).type) : '?';
  return { ok: false, problem: `malformed ${kind} frame at ${issue?.path.join('.') || '(root)'}: ${issue?.message}` };
}

/** Reads a frame the runner sent (at the edge). Never throws. */
export function parseRunnerFrame(frame: unknown): FrameResult<RunnerMessage> {
  return parseFrame(RunnerMessageSchema, frame);
}

/** Reads a frame the edge sent (at the runner). Never throws. */
export function parseEdgeFrame(frame: unknown): FrameResult<EdgeMessage> {
  return parseFrame(EdgeMessageSchema, frame);
}

/** Encodes a frame for the edge, checking it first: sending a malformed frame is a bug, so this throws. */
export function encodeRunnerFrame(message: RunnerMessage): string {
  return JSON.stringify(RunnerMessageSchema.parse(message));
}

/** Encodes a frame for the runner, checking it first: sending a malformed frame is a bug, so this throws. */
export function encodeEdgeFrame(message: EdgeMessage): string {
  return JSON.stringify(EdgeMessageSchema.parse(message));
}
