/**
 * Jobs and their ordered events in the Coordinator's SQLite storage, and the row → public Scan projection. Longer
 * than ~300 lines because every query on the two tables lives here, so the SQL and its indexes are read together.
 */
import type { ScanError } from '../../shared/errors/index.ts';
import type { Report } from '../../shared/nmap-xml/index.ts';
import type { Target } from '../../shared/policy/index.ts';
import { utf8ByteLength, type JobFinished } from '../../shared/protocol/index.ts';
import type { JobStatus, Scan, ScanChanges } from '../../shared/scan/index.ts';

/** Kinds of job events. `xml` rows hold nmap's XML in seq order; they are never streamed as events. */
export type EventType = 'queued' | 'dispatched' | 'output' | 'progress' | 'finished' | 'xml';

export type JobRow = {
  id: string;
  status: JobStatus;
  token_id: string;
  token_name: string;
  request: string;
  argv: string;
  targets: string;
  warnings: string;
  needs_privilege: number;
  timeout_sec: number;
  runner_id: string | null;
  created_at: number;
  dispatched_at: number | null;
  started_at: number | null;
  finished_at: number | null;
  queued_until: number | null;
  lease_until: number | null;
  last_seq: number | null;
  next_eid: number;
  progress: string | null;
  result: string | null;
  error: string | null;
  output_bytes: number;
  stdout_bytes: number;
  stderr_bytes: number;
  output_frames: number;
  /** Streams the edge cut at their cap (1 stdout, 2 stderr, 4 xml), whatever the runner said. */
  edge_truncated: number;
  /** UTF-8 bytes of nmap's XML stored at the edge (at most MAX_XML_BYTES). */
  xml_bytes: number;
  idempotency_key: string | null;
  fingerprint: string | null;
  /** ScanChanges as JSON (migration 7), set when a succeeded scan had a previous one to compare with. */
  changes: string | null;
  /** The schedule that started this job (migration 8), or null for a scan someone asked for. */
  schedule_id: string | null;
};

/**
 * nmap's XML of an ended job as the edge judged it (worker/domain/nmap-xml-check.ts): kept (`bytes` stored,
 * `truncated` by the runner or the edge), refused (why; nothing kept), or null when nmap wrote none. Absent when the
 * runner sent none (runners older than the field).
 */
export type XmlState = { bytes: number; truncated: boolean } | { refused: string } | null;

/** What a finished job keeps of the runner's `job.finished`. */
export type JobResult = Pick<
  JobFinished,
  'exitCode' | 'signal' | 'timedOut' | 'cancelled' | 'durationMs' | 'truncated'
> & { report: Report | null; xml?: XmlState };

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function toScan(row: JobRow): Scan {
  const result = row.result ? (JSON.parse(row.result) as JobResult) : null;
  return {
    id: row.id,
    status: row.status,
    targets: (JSON.parse(row.targets) as Target[]).map((t) => t.value),
    argv: JSON.parse(row.argv) as string[],
    warnings: JSON.parse(row.warnings) as string[],
    needsPrivilege: row.needs_privilege === 1,
    timeoutSec: row.timeout_sec,
    requestedBy: { tokenId: row.token_id, name: row.token_name },
    runnerId: row.runner_id,
    createdAt: iso(row.created_at)!,
    dispatchedAt: iso(row.dispatched_at),
    startedAt: iso(row.started_at),
    finishedAt: iso(row.finished_at),
    progress: row.progress ? JSON.parse(row.progress) : null,
    exitCode: result?.exitCode ?? null,
    signal: result?.signal ?? null,
    timedOut: result?.timedOut ?? false,
    truncated: {
      stdout: (result?.truncated.stdout ?? false) || (row.edge_truncated & 1) !== 0,
      stderr: (result?.truncated.stderr ?? false) || (row.edge_truncated & 2) !== 0,
    },
    durationMs: result?.durationMs ?? null,
    error: row.error ? (JSON.parse(row.error) as ScanError) : null,
    report: result?.report ?? null,
    outputBytes: row.output_bytes,
    changes: row.changes ? (JSON.parse(row.changes) as ScanChanges) : null,
    scheduleId: row.schedule_id ?? null,
    ...(result?.xml && 'bytes' in result.xml && { xml: { bytes: result.xml.bytes, truncated: result.xml.truncated } }),
  };
}

export type StoredEvent = {
  eid: number;
  type: EventType;
  data: string;
};

/** Jobs and their ordered events (output included) in the Coordinator's SQLite storage. */
export class JobStore {
  #sql: SqlStorage;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
  }

  get(id: string): JobRow | undefined {
    return this.#sql.exec<JobRow>('SELECT * FROM jobs WHERE id = ?', id).toArray()[0];
  }

  byIdempotencyKey(tokenId: string, key: string): JobRow | undefined {
    return this.#sql
      .exec<JobRow>('SELECT * FROM jobs WHERE token_id = ? AND idempotency_key = ?', tokenId, key)
      .toArray()[0];
  }

  insert(
    row: Pick<
      JobRow,
      | 'id'
      | 'status'
      | 'token_id'
      | 'token_name'
      | 'request'
      | 'argv'
      | 'targets'
      | 'warnings'
      | 'needs_privilege'
      | 'timeout_sec'
      | 'created_at'
      | 'idempotency_key'
      | 'fingerprint'
    > & { schedule_id?: string | null },
  ): void {
    this.#sql.exec(
      `INSERT INTO jobs (id, status, token_id, token_name, request, argv, targets, warnings, needs_privilege, timeout_sec, created_at, idempotency_key, fingerprint, schedule_id)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      row.id,
      row.status,
      row.token_id,
      row.token_name,
      row.request,
      row.argv,
      row.targets,
      row.warnings,
      row.needs_privilege,
      row.timeout_sec,
      row.created_at,
      row.idempotency_key,
      row.fingerprint,
      row.schedule_id ?? null,
    );
  }

  update(id: string, fields: Partial<Omit<JobRow, 'id'>>): void {
    const keys = Object.keys(fields);
    if (keys.length === 0) return;
    this.#sql.exec(
      `UPDATE jobs SET ${keys.map((k) => `${k} = ?`).join(', ')} WHERE id = ?`,
      ...keys.map((k) => (fields as Record<string, SqlStorageValue>)[k]!),
      id,
    );
  }

  /** Appends an event; output with a seq already stored is dropped (returns undefined). */
  append(
    jobId: string,
    type: EventType,
    data: unknown,
    output?: { seq: number; stream: string },
  ): StoredEvent | undefined {
    if (
      output &&
      this.#sql.exec('SELECT 1 FROM job_events WHERE job_id = ? AND seq = ?', jobId, output.seq).toArray().length > 0
    )
      return undefined;
    const eid =
      this.#sql
        .exec<{ next_eid: number }>('UPDATE jobs SET next_eid = next_eid + 1 WHERE id = ? RETURNING next_eid', jobId)
        .one().next_eid - 1;
    const text = JSON.stringify(data);
    this.#sql.exec(
      'INSERT INTO job_events (job_id, eid, type, seq, stream, data, at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      jobId,
      eid,
      type,
      output?.seq ?? null,
      output?.stream ?? null,
      text,
      Date.now(),
    );
    return { eid, type, data: text };
  }

  /** Events after `afterEid`, oldest first, at most `limit` of them (streams page through long histories). */
  events(jobId: string, afterEid: number, limit = 500): StoredEvent[] {
    return this.#sql
      .exec<StoredEvent>(
        "SELECT eid, type, data FROM job_events WHERE job_id = ? AND eid > ? AND type <> 'xml' ORDER BY eid LIMIT ?",
        jobId,
        afterEid,
        limit,
      )
      .toArray();
  }

  /** The contiguous seq already established per job, so each new frame scans only what came after it. */
  readonly #contiguous = new Map<string, number>();

  /** The highest seq stored with every seq below it stored too (what can be acked). */
  contiguousSeq(jobId: string): number {
    let n = this.#contiguous.get(jobId) ?? 0;
    const seqs = this.#sql
      .exec<{ seq: number }>('SELECT seq FROM job_events WHERE job_id = ? AND seq > ? ORDER BY seq', jobId, n)
      .toArray();
    for (const { seq } of seqs) {
      if (seq !== n + 1) break;
      n = seq;
    }
    if (this.#contiguous.size >= 10_000) this.#contiguous.clear();
    this.#contiguous.set(jobId, n);
    return n;
  }

  /**
   * Output in seq order after `afterSeq`, up to about `maxBytes` of UTF-8 (whole frames; at least one), so a large
   * output is read in pages that each fit an RPC. `nextSeq` is where the next page starts; null when none is left.
   */
  outputPage(
    jobId: string,
    afterSeq: number,
    maxBytes: number,
    type: 'output' | 'xml' = 'output',
  ): { data: string; nextSeq: number | null } {
    const parts: string[] = [];
    let bytes = 0;
    let seq = afterSeq;
    for (;;) {
      const rows = this.#sql
        .exec<{ seq: number; data: string }>(
          'SELECT seq, data FROM job_events WHERE job_id = ? AND seq > ? AND type = ? ORDER BY seq LIMIT 256',
          jobId,
          seq,
          type,
        )
        .toArray();
      if (rows.length === 0) return { data: parts.join(''), nextSeq: null };
      for (const row of rows) {
        const text = (JSON.parse(row.data) as { data: string }).data;
        const size = utf8ByteLength(text);
        if (parts.length > 0 && bytes + size > maxBytes) return { data: parts.join(''), nextSeq: seq };
        parts.push(text);
        bytes += size;
        seq = row.seq;
      }
    }
  }

  /** The last `maxBytes` (about: whole frames) of a job's output, and how many bytes before it were left out. */
  outputTail(jobId: string, maxBytes: number, totalBytes: number): { data: string; omittedBytes: number } {
    const parts: string[] = [];
    let bytes = 0;
    let before = Number.MAX_SAFE_INTEGER;
    for (;;) {
      const rows = this.#sql
        .exec<{ seq: number; data: string }>(
          "SELECT seq, data FROM job_events WHERE job_id = ? AND seq IS NOT NULL AND seq < ? AND type = 'output' ORDER BY seq DESC LIMIT 256",
          jobId,
          before,
        )
        .toArray();
      if (rows.length === 0) break;
      for (const row of rows) {
        const text = (JSON.parse(row.data) as { data: string }).data;
        const size = utf8ByteLength(text);
        if (bytes + size > maxBytes)
          return { data: parts.reverse().join(''), omittedBytes: Math.max(0, totalBytes - bytes) };
        parts.push(text);
        bytes += size;
        before = row.seq;
      }
    }
    return { data: parts.reverse().join(''), omittedBytes: 0 };
  }

  /**
   * Empties a job's XML rows, keeping each row and its seq (acks stay contiguous, a resent frame stays a
   * duplicate): for XML the edge refused.
   */
  dropXml(jobId: string): void {
    this.#sql.exec(
      `UPDATE job_events SET data = json_set(data, '$.data', '') WHERE job_id = ? AND type = 'xml'`,
      jobId,
    );
    this.update(jobId, { xml_bytes: 0 });
  }

  byStatus(statuses: readonly JobStatus[]): JobRow[] {
    return this.#sql
      .exec<JobRow>(
        `SELECT * FROM jobs WHERE status IN (${statuses.map(() => '?').join(',')}) ORDER BY created_at`,
        ...statuses,
      )
      .toArray();
  }

  /** Dispatched or running jobs per runner, in one query (routing reads it for every scan). */
  activeCounts(): Map<string, number> {
    const rows = this.#sql
      .exec<{ runner_id: string; n: number }>(
        "SELECT runner_id, COUNT(*) AS n FROM jobs WHERE status IN ('dispatched', 'running') AND runner_id IS NOT NULL GROUP BY runner_id",
      )
      .toArray();
    return new Map(rows.map((r) => [r.runner_id, r.n]));
  }

  /** A token's scans dispatched or running, and waiting in the queue (its fair share is judged on these). */
  tokenLoad(tokenId: string): { running: number; queued: number } {
    const rows = this.#sql
      .exec<{ status: JobStatus; n: number }>(
        "SELECT status, COUNT(*) AS n FROM jobs WHERE token_id = ? AND status IN ('queued', 'dispatched', 'running') GROUP BY status",
        tokenId,
      )
      .toArray();
    const count = (statuses: JobStatus[]) =>
      rows.filter((r) => statuses.includes(r.status)).reduce((sum, r) => sum + r.n, 0);
    return { running: count(['dispatched', 'running']), queued: count(['queued']) };
  }

  activeOnRunner(runnerId: string): JobRow[] {
    return this.#sql
      .exec<JobRow>("SELECT * FROM jobs WHERE runner_id = ? AND status IN ('dispatched', 'running')", runnerId)
      .toArray();
  }

  list(filter: { tokenId?: string; status?: JobStatus; limit: number; before?: string }): {
    scans: Scan[];
    nextCursor: string | null;
  } {
    const where: string[] = [];
    const args: SqlStorageValue[] = [];
    if (filter.tokenId) {
      where.push('token_id = ?');
      args.push(filter.tokenId);
    }
    if (filter.status) {
      where.push('status = ?');
      args.push(filter.status);
    }
    if (filter.before) {
      const [at, id] = filter.before.split('.');
      where.push('(created_at < ? OR (created_at = ? AND id < ?))');
      args.push(Number(at), Number(at), id ?? '');
    }
    const rows = this.#sql
      .exec<JobRow>(
        `SELECT * FROM jobs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, id DESC LIMIT ?`,
        ...args,
        filter.limit + 1,
      )
      .toArray();
    const page = rows.slice(0, filter.limit);
    const last = page.at(-1);
    return {
      scans: page.map(toScan),
      nextCursor: rows.length > filter.limit && last ? `${last.created_at}.${last.id}` : null,
    };
  }

  /**
   * The latest succeeded scans that changed something (not quiet), newest first, for the dashboard's feed. Only the
   * columns the feed shows: it is read on every dashboard update, and a scan's result (its report) can be megabytes.
   */
  recentChanges(
    limit: number,
  ): Array<Pick<JobRow, 'id' | 'targets' | 'token_name' | 'finished_at'> & { changes: string }> {
    return this.#sql
      .exec<Pick<JobRow, 'id' | 'targets' | 'token_name' | 'finished_at'> & { changes: string }>(
        `SELECT id, targets, token_name, finished_at, changes FROM jobs
         WHERE changes IS NOT NULL AND json_extract(changes, '$.quiet') = 0 ORDER BY finished_at DESC LIMIT ?`,
        limit,
      )
      .toArray();
  }

  /**
   * The newest succeeded scan of exactly `row`'s targets that finished before it, of `tokenId` when given (a scan
   * token's history is its own), for a diff.
   */
  previousOf(row: JobRow, tokenId?: string): JobRow | undefined {
    return this.#sql
      .exec<JobRow>(
        `SELECT * FROM jobs WHERE targets = ? AND status = 'succeeded' AND finished_at < ? AND id <> ?
         ${tokenId ? 'AND token_id = ?' : ''} ORDER BY finished_at DESC LIMIT 1`,
        row.targets,
        row.finished_at ?? Date.now(),
        row.id,
        ...(tokenId ? [tokenId] : []),
      )
      .toArray()[0];
  }

  /**
   * Deletes up to `limit` scans that ended before `before`, with their events and output; returns how many. Bounded
   * so one alarm never deletes without end; the alarm comes back while more are due.
   */
  prune(before: number, limit: number): number {
    const ids = this.#sql
      .exec<{ id: string }>(
        'SELECT id FROM jobs WHERE finished_at IS NOT NULL AND finished_at < ? ORDER BY finished_at LIMIT ?',
        before,
        limit,
      )
      .toArray()
      .map((r) => r.id);
    for (const id of ids) {
      this.#sql.exec('DELETE FROM job_events WHERE job_id = ?', id);
      this.#sql.exec('DELETE FROM jobs WHERE id = ?', id);
      this.#contiguous.delete(id);
    }
    return ids.length;
  }

  /** When the oldest ended scan ended (null when none has), for the next prune. */
  oldestFinish(): number | null {
    return this.#sql
      .exec<{ t: number | null }>('SELECT MIN(finished_at) AS t FROM jobs WHERE finished_at IS NOT NULL')
      .one().t;
  }

  /** When each scan that ended since `since` ended, and how (for the dashboard's per-minute chart). */
  endedSince(since: number): Array<{ finished_at: number; status: JobStatus }> {
    return this.#sql
      .exec<{ finished_at: number; status: JobStatus }>(
        'SELECT finished_at, status FROM jobs WHERE finished_at >= ?',
        since,
      )
      .toArray();
  }

  /**
   * The next time anything about a job is due: a lease running out, a queued job expiring, or an active job
   * passing its deadline (dispatched + its timeout + `graceMs`, by which its runner must have reported).
   */
  nextDeadline(graceMs: number): number | null {
    const row = this.#sql
      .exec<{ t: number | null }>(
        "SELECT MIN(t) AS t FROM (SELECT MIN(lease_until) AS t FROM jobs WHERE lease_until IS NOT NULL AND status IN ('dispatched','running') UNION ALL SELECT MIN(queued_until) FROM jobs WHERE status = 'queued' UNION ALL SELECT MIN(dispatched_at + timeout_sec * 1000 + ?) FROM jobs WHERE status IN ('dispatched','running') AND dispatched_at IS NOT NULL)",
        graceMs,
      )
      .one();
    return row.t;
  }
}
