import {
  EDGE_FEATURES,
  finishedAckSeq,
  parseRunnerFrame,
  SUPPORTED_PROTOCOLS,
  type Hello,
  type RunnerMessage,
} from '../../../shared/protocol/index.ts';
import { networkWithin } from '../../../shared/policy/index.ts';
import { isOutdated, RUNNER_VERSION } from '../../../shared/protocol/runner-version.ts';
import { decideSecondHello, noteConflict } from '../../domain/link-conflict.ts';
import { TERMINAL } from '../../../shared/scan/index.ts';
import type { Core } from './core.ts';
import type { JobEngine } from './jobs.ts';
import { attachmentOf, type RunnerSockets, type SocketAttachment } from './sockets.ts';

/**
 * The runner end of the pool: a runner connects, says hello (its protocol, its networks inside its grant, its
 * instance), then sends frames about its jobs; its link can be replaced, refused, lost, or found silent.
 */
export class RunnerLink {
  readonly #core: Core;
  readonly #sockets: RunnerSockets;
  readonly #engine: JobEngine;

  constructor(core: Core, sockets: RunnerSockets, engine: JobEngine) {
    this.#core = core;
    this.#sockets = sockets;
    this.#engine = engine;
  }

  /** Accepts a runner's WebSocket (the Worker checked its token). One link per runner is settled at hello. */
  connect(runnerId: string): Response {
    const runner = this.#core.runners.get(runnerId);
    if (!runner || runner.revokedAt) return new Response('runner unknown or revoked', { status: 403 });
    const pair = new WebSocketPair();
    this.#core.ctx.acceptWebSocket(pair[1], [runnerId]);
    pair[1].serializeAttachment({ runnerId, helloed: false, openedAt: Date.now() } satisfies SocketAttachment);
    return new Response(null, { status: 101, webSocket: pair[0] });
  }

  async message(ws: WebSocket, raw: string | ArrayBuffer): Promise<void> {
    const attachment = attachmentOf(ws);
    const parsed = parseRunnerFrame(raw);
    if (!parsed.ok) {
      this.#sockets.send(ws, {
        type: 'error',
        code: 'malformed_frame',
        message: parsed.problem,
        recoverySuggestion: 'Upgrade scangate-runner to match the edge.',
      });
      return;
    }
    const message = parsed.message;
    // A hello does not count as traffic of the runner's live link: it may come from a second instance.
    if (message.type === 'hello') return this.#hello(ws, attachment, message);
    if (!attachment.helloed) {
      this.#sockets.send(ws, {
        type: 'error',
        code: 'malformed_frame',
        message: 'The first frame must be hello',
        recoverySuggestion: 'Upgrade scangate-runner.',
      });
      ws.close(4400, 'hello first');
      return;
    }
    this.#core.runners.seen(attachment.runnerId, Date.now());
    this.#fromRunner(attachment.runnerId, message);
    // Only an ending job moves a deadline (breaker half-open, queue drained); output and progress, the bulk of
    // the traffic, do not, so they skip the alarm bookkeeping.
    if (message.type === 'job.finished' || message.type === 'job.rejected') await this.#engine.schedule();
  }

  #hello(ws: WebSocket, attachment: SocketAttachment, hello: Hello): void {
    if (attachment.helloed) {
      // What a runner serves is settled once per connection: a second hello could widen it mid-session.
      this.#sockets.send(ws, {
        type: 'error',
        code: 'duplicate_hello',
        message: 'hello was already sent on this connection',
        recoverySuggestion: 'Reconnect to declare other networks.',
      });
      ws.close(4400, 'duplicate hello');
      return;
    }
    if (!SUPPORTED_PROTOCOLS.includes(hello.protocol)) {
      this.#sockets.send(ws, {
        type: 'error',
        code: 'unsupported_protocol',
        message: `Protocol ${hello.protocol} is not supported; this edge speaks ${SUPPORTED_PROTOCOLS.join(', ')}`,
        recoverySuggestion: 'Install the scangate-runner version that matches this edge.',
        supportedProtocols: [...SUPPORTED_PROTOCOLS],
      });
      ws.close(4002, 'unsupported protocol');
      return;
    }
    const runner = this.#core.runners.get(attachment.runnerId);
    const granted = runner?.granted ?? this.#core.policy().allowedNetworks;
    const ungranted = hello.networks.filter((n) => !granted.some((g) => networkWithin(n, g)));
    if (ungranted.length > 0) {
      this.#sockets.send(ws, {
        type: 'error',
        code: 'networks_not_granted',
        message: `This runner declares ${ungranted.join(', ')}, which an admin did not grant it (granted: ${granted.join(', ')})`,
        recoverySuggestion:
          'Start the runner with --network values inside its grant, or have an admin create a runner with the networks it should serve.',
      });
      this.#core.audit.record(runner?.name ?? attachment.runnerId, 'runner.hello', 'refused', {
        runnerId: attachment.runnerId,
        declared: hello.networks,
        granted,
      });
      ws.close(4403, 'networks not granted');
      return;
    }
    const now = Date.now();
    if (!this.#settleSecondLink(ws, attachment, hello, now)) return;
    this.#core.runners.connected(attachment.runnerId, hello, now);
    this.#core.notifyDashboard();
    ws.serializeAttachment({
      ...attachment,
      helloed: true,
      instanceId: hello.instanceId ?? null,
      host: hello.host ?? null,
    } satisfies SocketAttachment);
    this.#sockets.send(ws, {
      type: 'welcome',
      runnerId: attachment.runnerId,
      heartbeatSec: this.#core.settings.heartbeatSec,
    });
    if (isOutdated(hello.runnerVersion))
      this.#sockets.send(ws, {
        type: 'runner.update_available',
        runnerVersion: hello.runnerVersion,
        latestRunnerVersion: RUNNER_VERSION,
      });
    this.#sockets.send(ws, { type: 'edge.features', features: [...EDGE_FEATURES] });
    const resumed = new Map(hello.resume.map((r) => [r.jobId, r]));
    for (const row of this.#core.jobs.activeOnRunner(attachment.runnerId)) {
      if (resumed.has(row.id)) this.#core.jobs.update(row.id, { lease_until: null });
      else this.#engine.runnerLost(row, 'came back without it (it restarted)');
    }
    this.#engine.drainQueue();
    void this.#engine.schedule();
  }

  /**
   * A hello while this runner has a live link elsewhere (link-conflict.ts): refused if that link is live and of
   * another instance (the conflict is recorded for the dashboard and audited once a minute), else the old link is
   * replaced. Returns whether this hello may go on.
   */
  #settleSecondLink(ws: WebSocket, attachment: SocketAttachment, hello: Hello, now: number): boolean {
    const runner = this.#core.runners.get(attachment.runnerId)!;
    const others = this.#sockets.linksOf(attachment.runnerId).filter((other) => other !== ws);
    const livenessMs = 3 * this.#core.settings.heartbeatSec * 1000;
    const incomingHost = hello.host ?? null;
    for (const other of others) {
      const { host, instanceId } = attachmentOf(other);
      const lastHeardAt = Math.max(runner.lastSeen ?? 0, this.#sockets.lastPong(other));
      if (
        decideSecondHello(
          { instanceId: instanceId ?? null, lastHeardAt },
          hello.instanceId ?? null,
          now,
          livenessMs,
        ) === 'replace'
      )
        continue;
      const firstThisMinute = !runner.conflict || now - runner.conflict.lastAt >= 60_000;
      this.#core.runners.setConflict(runner.id, noteConflict(runner.conflict, host ?? null, incomingHost, now));
      if (firstThisMinute)
        this.#core.audit.record(runner.name, 'runner.conflict', 'refused', {
          runnerId: runner.id,
          liveHost: host ?? null,
          refusedHost: incomingHost,
        });
      this.#core.notifyDashboard();
      this.#sockets.send(ws, {
        type: 'error',
        code: 'runner_in_use',
        message: `This runner token is already connected from ${host === incomingHost ? `another process on ${host ?? 'this host'}` : (host ?? 'another host')}; one runner token serves one runner at a time`,
        recoverySuggestion:
          'Stop the runner on the other host, or create a runner (and token) of its own for this host. This runner keeps retrying and takes over once the other link misses its heartbeats.',
      });
      ws.close(4409, 'runner token in use from another host');
      return false;
    }
    for (const other of others) other.close(4000, 'replaced by a new connection');
    return true;
  }

  #fromRunner(runnerId: string, message: Exclude<RunnerMessage, Hello>): void {
    const { jobs } = this.#core;
    const row = jobs.get(message.jobId);
    const mine = row && row.runner_id === runnerId;
    switch (message.type) {
      case 'job.accepted':
        if (mine && row.status === 'dispatched') jobs.update(row.id, { status: 'running', started_at: Date.now() });
        return;
      case 'job.rejected':
        if (mine && !TERMINAL.has(row.status)) {
          this.#engine.finish(row, 'rejected', null, message.error);
          this.#engine.judge(row, 'neutral');
        }
        return;
      case 'job.output':
        this.#engine.onOutput(runnerId, row && mine ? row : undefined, message);
        return;
      case 'job.progress':
        if (mine && !TERMINAL.has(row.status)) {
          const progress = {
            percent: message.percent,
            ...(message.phase && { phase: message.phase }),
            ...(message.etaSec !== undefined && { etaSec: message.etaSec }),
          };
          jobs.update(row.id, { progress: JSON.stringify(progress) });
          this.#engine.event(row.id, 'progress', progress);
        }
        return;
      case 'job.finished': {
        if (!mine) {
          this.#sockets.sendTo(runnerId, { type: 'ack', jobId: message.jobId, seq: finishedAckSeq(message.lastSeq) });
          return;
        }
        this.#engine.onFinished(message);
        const done = jobs.get(row.id)!;
        this.#sockets.sendTo(runnerId, {
          type: 'ack',
          jobId: row.id,
          seq: TERMINAL.has(done.status) ? finishedAckSeq(message.lastSeq) : jobs.contiguousSeq(row.id),
        });
        this.#engine.drainQueue();
        return;
      }
    }
  }

  async down(ws: WebSocket, silent = false): Promise<void> {
    const { runnerId, helloed } = attachmentOf(ws);
    // A connection that never said hello (refused, or cut before it) was never the runner's link; a replaced
    // link closing says nothing about the runner, which is connected on the new one.
    if (!helloed || this.#sockets.linksOf(runnerId).some((other) => other !== ws)) return;
    if (silent)
      this.#core.audit.record(this.#core.runners.get(runnerId)?.name ?? runnerId, 'runner.silent', 'link closed', {
        runnerId,
      });
    const now = Date.now();
    this.#core.runners.disconnected(runnerId, now);
    this.#engine.leaseJobsOf(runnerId, now);
    this.#core.notifyDashboard();
    await this.#engine.schedule();
  }

  /**
   * A silent partition must not leave a runner "online": a link with no frame and no pong for three heartbeats
   * is closed here, which starts the leases of its jobs (and the runner reconnects if it is alive). A connection
   * that has not said hello within a heartbeat holds a socket for nothing and is closed too.
   */
  async checkLiveness(now: number): Promise<void> {
    const heartbeatMs = this.#core.settings.heartbeatSec * 1000;
    for (const runner of this.#core.runners.list()) {
      for (const ws of this.#sockets.all(runner.id)) {
        const attachment = attachmentOf(ws);
        if (!attachment.helloed && now - (attachment.openedAt ?? 0) >= heartbeatMs) ws.close(4408, 'no hello');
      }
      if (!runner.connected) continue;
      for (const ws of this.#sockets.linksOf(runner.id)) {
        const heard = Math.max(runner.lastSeen ?? 0, this.#sockets.lastPong(ws));
        if (now - heard < 3 * heartbeatMs) continue;
        ws.close(4008, 'heartbeats missed');
        await this.down(ws, true);
      }
    }
  }

  /**
   * After a restart of the object (a deploy, a crash, `wrangler dev` restarted) sockets are gone without a close
   * event. Runners still marked connected with no link are marked down and their jobs get a lease, so they are
   * either resumed on reconnect or become runner_lost, never stuck. (After hibernation the sockets are still here.)
   */
  async reconcile(): Promise<void> {
    const now = Date.now();
    let changed = false;
    for (const runner of this.#core.runners.list()) {
      if (!runner.connected || this.#sockets.linksOf(runner.id).length > 0) continue;
      this.#core.runners.disconnected(runner.id, now);
      this.#engine.leaseJobsOf(runner.id, now);
      changed = true;
    }
    if (changed) await this.#engine.schedule();
  }
}
