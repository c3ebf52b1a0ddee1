import { scanError, type ScanError } from '../../../shared/errors/index.ts';
import { validateScanRequest } from '../../../shared/policy/index.ts';
import type { Principal } from '../../domain/principal.ts';
import { chooseRunner } from '../../domain/routing.ts';
import { excerpt } from '../../storage/audit.store.ts';
import { scanNotFound, TERMINAL, type JobStatus, type Scan } from '../../../shared/scan/index.ts';
import { toScan, type JobResult, type JobRow } from '../../storage/jobs.store.ts';
import { xmlMissing } from '../../domain/nmap-xml-check.ts';
import { newId } from '../../domain/tokens.ts';
import { fail, ok, type Result } from '../../domain/result.ts';
import type { Core } from './core.ts';
import type { JobEngine } from './jobs.ts';
import type { RunnerSockets } from './sockets.ts';

export interface ScanRequestBody {
  target: string | string[];
  args?: string | string[];
  template?: string;
  timeoutSec?: number;
}

/** Output kept inline in a scan read over RPC (the dashboard, MCP); REST pages through the rest with readOutput. */
const INLINE_OUTPUT_BYTES = 1024 * 1024;
/** Output per readOutput page: well under the RPC limit even when every character needs two bytes in transit. */
const OUTPUT_PAGE_BYTES = 2 * 1024 * 1024;

/**
 * Scans as a caller sees them: start one (idempotency, rate limit, policy, routing, the per-token share), read,
 * list, cancel and watch them. A caller sees its own scans; an admin sees all (`visible`).
 */
export class ScanService {
  readonly #core: Core;
  readonly #engine: JobEngine;
  readonly #sockets: RunnerSockets;

  constructor(core: Core, engine: JobEngine, sockets: RunnerSockets) {
    this.#core = core;
    this.#engine = engine;
    this.#sockets = sockets;
  }

  async create(
    principal: Principal,
    body: ScanRequestBody,
    options: { idempotencyKey?: string; waitSec?: number; scheduleId?: string } = {},
  ): Promise<Result<{ scan: Scan; created: boolean }>> {
    const { jobs, settings } = this.#core;
    const now = Date.now();
    const fingerprint = JSON.stringify([
      body.target,
      body.args ?? null,
      body.template ?? null,
      body.timeoutSec ?? null,
    ]);
    if (options.idempotencyKey) {
      const existing = jobs.byIdempotencyKey(principal.tokenId, options.idempotencyKey);
      if (existing) {
        if (existing.fingerprint !== fingerprint)
          return fail(
            scanError(
              'conflict',
              'This Idempotency-Key was used for a different scan request',
              'Use a new Idempotency-Key for a new request.',
            ),
          );
        return ok({ scan: await this.#waitIfAsked(existing.id, options.waitSec), created: false });
      }
    }
    const limited = this.#rateLimit(principal.tokenId, now);
    if (limited) return this.#refuse(principal, body, limited);

    const policy = this.#core.policy();
    const validation = validateScanRequest(body, policy);
    if (!validation.ok) return this.#refuse(principal, body, validation.error);
    const timeoutSec = body.timeoutSec ?? policy.defaultTimeoutSec;

    const load = jobs.tokenLoad(principal.tokenId);
    const decision = chooseRunner(
      {
        targets: validation.targets,
        needsPrivilege: validation.needsPrivilege,
        requireFence: policy.requireFence,
        share: { running: load.running, ...policy.perToken },
      },
      this.#engine.liveRunners(),
      now,
    );
    if (decision.kind === 'refuse') return this.#refuse(principal, body, decision.error);
    if (decision.kind === 'queue') {
      const full = this.#queueRefusal(load.queued);
      if (full) return this.#refuse(principal, body, full);
    }

    const id = newId('scan');
    jobs.insert({
      id,
      status: 'queued',
      token_id: principal.tokenId,
      token_name: principal.name,
      request: JSON.stringify(body),
      argv: JSON.stringify(validation.argv),
      targets: JSON.stringify(validation.targets),
      warnings: JSON.stringify(validation.warnings),
      needs_privilege: validation.needsPrivilege ? 1 : 0,
      timeout_sec: timeoutSec,
      created_at: now,
      idempotency_key: options.idempotencyKey ?? null,
      fingerprint,
      schedule_id: options.scheduleId ?? null,
    });
    this.#core.audit.record(principal.name, 'scan.create', 'accepted', {
      scanId: id,
      tokenId: principal.tokenId,
      targets: validation.targets.map((t) => t.value),
      argv: validation.argv,
      ...(options.scheduleId && { scheduleId: options.scheduleId }),
    });
    this.#engine.event(id, 'queued', { status: 'queued' });
    if (decision.kind === 'dispatch') this.#engine.dispatch(jobs.get(id)!, decision.runnerId);
    else jobs.update(id, { queued_until: now + settings.queueWaitSec * 1000 });
    await this.#engine.schedule();
    return ok({ scan: await this.#waitIfAsked(id, options.waitSec), created: true });
  }

  /** Why a scan may not join the queue: the queue is full, or this token holds its share of it already. */
  #queueRefusal(queuedByToken: number): ScanError | undefined {
    const retryAfterSec = this.#core.settings.queueWaitSec;
    const mine = this.#core.policy().perToken.maxQueuedScans;
    if (queuedByToken >= mine) {
      return scanError(
        'rate_limited',
        `This token has ${queuedByToken} scans waiting in the queue, its share (policy perToken.maxQueuedScans = ${mine})`,
        'Wait for your queued scans to start, or cancel some.',
        { retryAfterSec },
      );
    }
    if (this.#core.jobs.byStatus(['queued']).length >= this.#core.settings.queueMax) {
      return scanError(
        'rate_limited',
        'Every runner for these targets is busy and the queue is full',
        'Retry in a little while.',
        { retryAfterSec },
      );
    }
    return undefined;
  }

  #refuse(principal: Principal, body: ScanRequestBody, error: ScanError): { ok: false; error: ScanError } {
    // The request was refused, so it was never validated: only a bounded excerpt of it is kept.
    this.#core.audit.record(principal.name, 'scan.create', 'refused', {
      tokenId: principal.tokenId,
      target: excerpt(body.target),
      args: excerpt(body.args ?? null),
      template: excerpt(body.template ?? null),
      reason: error.type,
      message: error.message.slice(0, 500),
    });
    this.#core.counters.add('scangate_rejections_total', { reason: error.type });
    return fail(error);
  }

  #rateLimit(tokenId: string, now: number): ScanError | undefined {
    const { sql } = this.#core;
    const limit = this.#core.policy().rateLimitPerMinute;
    const row = sql
      .exec<{ window_start: number; count: number }>(
        'SELECT window_start, count FROM rate_windows WHERE token_id = ?',
        tokenId,
      )
      .toArray()[0];
    if (!row || now - row.window_start >= 60_000) {
      sql.exec(
        'INSERT INTO rate_windows (token_id, window_start, count) VALUES (?, ?, 1) ON CONFLICT(token_id) DO UPDATE SET window_start = excluded.window_start, count = 1',
        tokenId,
        now,
      );
      return undefined;
    }
    if (row.count >= limit) {
      const retryAfterSec = Math.max(1, Math.ceil((row.window_start + 60_000 - now) / 1000));
      return scanError(
        'rate_limited',
        `This token has started ${limit} scans in the last minute, its limit`,
        `Retry in ${retryAfterSec} s.`,
        { retryAfterSec },
      );
    }
    sql.exec('UPDATE rate_windows SET count = count + 1 WHERE token_id = ?', tokenId);
    return undefined;
  }

  async #waitIfAsked(id: string, waitSec = 0): Promise<Scan> {
    const row = this.#core.jobs.get(id)!;
    if (waitSec > 0 && !TERMINAL.has(row.status)) await this.#engine.ended.sleep(id, Math.min(waitSec, 60) * 1000);
    return toScan(this.#core.jobs.get(id)!);
  }

  /** The job if `principal` may see it: its own, or any for an admin. */
  visibleRow(principal: Principal, id: string): JobRow | undefined {
    const row = this.#core.jobs.get(id);
    return row !== undefined && (principal.role === 'admin' || row.token_id === principal.tokenId) ? row : undefined;
  }

  /**
   * A scan with the tail of its output (at most `outputTailBytes`, 1 MiB by default; `outputOmittedBytes` says how
   * much came before it). The whole output, at any size the policy allows, is read with readOutput.
   */
  get(
    principal: Principal,
    id: string,
    options: { outputTailBytes?: number } = {},
  ): Result<Scan & { output: string; outputOmittedBytes: number }> {
    const row = this.visibleRow(principal, id);
    if (!row) return fail(scanNotFound(id));
    const tail = this.#core.jobs.outputTail(
      id,
      Math.min(options.outputTailBytes ?? INLINE_OUTPUT_BYTES, INLINE_OUTPUT_BYTES),
      row.output_bytes,
    );
    return ok({ ...toScan(row), output: tail.data, outputOmittedBytes: tail.omittedBytes });
  }

  /** One page of a scan's output after `afterSeq` (0 for the start); `nextSeq` null when it is all read. */
  readOutput(principal: Principal, id: string, afterSeq: number): Result<{ data: string; nextSeq: number | null }> {
    if (!this.visibleRow(principal, id)) return fail(scanNotFound(id));
    return ok(this.#core.jobs.outputPage(id, afterSeq, OUTPUT_PAGE_BYTES));
  }

  /**
   * One page of a scan's nmap XML after `afterSeq` (0 for the start; `nextSeq` null when it is all read), with its
   * size and whether it was cut; `not_found` saying why when the scan has none to serve.
   */
  readXml(
    principal: Principal,
    id: string,
    afterSeq: number,
  ): Result<{ data: string; nextSeq: number | null; bytes: number; truncated: boolean }> {
    const row = this.visibleRow(principal, id);
    if (!row) return fail(scanNotFound(id));
    const { xml } = toScan(row);
    if (!xml) return fail(xmlMissing(id, row.status, row.result ? (JSON.parse(row.result) as JobResult) : null));
    return ok({ ...this.#core.jobs.outputPage(id, afterSeq, OUTPUT_PAGE_BYTES, 'xml'), ...xml });
  }

  list(
    principal: Principal,
    filter: { status?: JobStatus; limit: number; cursor?: string; mine?: boolean },
  ): { scans: Scan[]; nextCursor: string | null } {
    const tokenId = principal.role === 'admin' && !filter.mine ? undefined : principal.tokenId;
    return this.#core.jobs.list({
      limit: filter.limit,
      ...(tokenId && { tokenId }),
      ...(filter.status && { status: filter.status }),
      ...(filter.cursor && { before: filter.cursor }),
    });
  }

  async cancel(principal: Principal, id: string): Promise<Result<Scan>> {
    const row = this.visibleRow(principal, id);
    if (!row) return fail(scanNotFound(id));
    if (TERMINAL.has(row.status))
      return fail(scanError('conflict', `Scan ${id} has already ended (${row.status})`, 'Nothing to cancel.'));
    this.#core.audit.record(principal.name, 'scan.cancel', 'accepted', { scanId: id });
    if (row.status === 'queued')
      this.#engine.finish(
        row,
        'cancelled',
        null,
        scanError('cancelled', 'Cancelled before it started', 'Start a new scan if needed.'),
      );
    else if (row.runner_id) this.#sockets.sendTo(row.runner_id, { type: 'job.cancel', jobId: id });
    await this.#engine.schedule();
    return ok(toScan(this.#core.jobs.get(id)!));
  }

  /**
   * A scan's state without its output, once it has an event newer than `afterEid` (or ends, or `waitMs` passes).
   * For callers that relay progress as it happens (the MCP tool).
   */
  async watch(
    principal: Principal,
    id: string,
    afterEid: number,
    waitMs: number,
  ): Promise<Result<{ scan: Scan; lastEid: number }>> {
    const row = this.visibleRow(principal, id);
    if (!row) return fail(scanNotFound(id));
    const lastEid = () => this.#core.jobs.get(id)!.next_eid - 1;
    if (lastEid() <= afterEid && !TERMINAL.has(row.status) && waitMs > 0)
      await this.#engine.events.sleep(id, Math.min(waitMs, 60_000));
    return ok({ scan: toScan(this.#core.jobs.get(id)!), lastEid: lastEid() });
  }
}
