import { describe, expect, it } from 'vitest';
import { useBannerServer } from '../test/helpers/banner-server.ts';
import { scanError } from '../shared/errors/index.ts';
import { validateScanRequest } from '../shared/policy/index.ts';
import { finishedAckSeq, RunnerMessageSchema, type JobDispatch, type RunnerMessage } from '../shared/protocol/index.ts';
import { refuseDispatch, rejectJob, RunnerJob, type JobChannel, type JobOptions } from './job.ts';
import { createLogger } from './log.ts';
import { readLocalScripts } from './nmap-scripts.ts';
import { nmapVersion } from './system.ts';

/** A job on its own, with no link: only the `send` and log it is handed. Real nmap on 127.0.0.1 only. */
const banner = useBannerServer();
const OPTIONS: JobOptions = {
  config: {
    connectUrl: 'ws://127.0.0.1:9/unused',
    token: 'srt_job_test_token_0123456789',
    networks: ['127.0.0.0/8'],
    maxConcurrency: 2,
    nmap: 'nmap',
    graceSec: 1,
    allowIntrusive: false,
    allowEvasion: false,
  },
  privilege: { privileged: false, root: false, viaCapabilities: false, detail: 'test: unprivileged' },
  nmapPath: 'nmap',
  resolve: async () => [],
  scripts: await readLocalScripts('nmap', (await nmapVersion('nmap')) ?? null),
};

function dispatchOf(jobId: string, argv: string[]): JobDispatch {
  return {
    type: 'job.dispatch',
    jobId,
    argv,
    timeoutSec: 120,
    policy: {
      allowedHostSuffixes: [],
      allowIntrusive: false,
      allowEvasion: false,
      maxHosts: 1024,
      maxTargets: 16,
      maxPortRanges: 100,
    },
    limits: { stdoutMaxBytes: 1 << 20, stderrMaxBytes: 1 << 18 },
  };
}

function argvFor(args: string, target = '127.0.0.1'): string[] {
  const r = validateScanRequest({ target, args });
  if (!r.ok) throw new Error(r.error.message);
  return r.argv;
}

/** A channel standing in for the link: while `up` is false it drops every frame, as the link does when down. */
function recordingChannel() {
  const sent: RunnerMessage[] = [];
  const logs: string[] = [];
  const state = { up: true };
  const channel: JobChannel = {
    send: (frame) => void (state.up && sent.push(frame)),
    log: createLogger((line) => logs.push(line)),
  };
  return { channel, sent, logs, state };
}

describe.concurrent('runner job', () => {
  it('runs to its end while nothing can be sent, then resends every output frame in order and the result', async () => {
    const { channel, sent, state } = recordingChannel();
    state.up = false;
    const job = new RunnerJob(dispatchOf('job_offline', argvFor(`-sT -p ${banner.port()}`)), OPTIONS, channel);
    let accepted = 0;
    await job.run({ accepted: () => accepted++, refused: () => expect.unreachable('refused') });
    expect(accepted).toBe(1);
    expect(job.running).toBe(false);
    expect(sent).toEqual([]);
    const { lastSeq, finished } = job.resumePoint;
    expect(finished).toBe(true);
    expect(lastSeq).toBeGreaterThan(0);
    expect(job.settled).toBe(false);

    state.up = true;
    job.resend();
    expect(sent.map((m) => (m.type === 'job.output' ? m.seq : m.type))).toEqual([
      ...Array.from({ length: lastSeq }, (_, i) => i + 1),
      'job.finished',
    ]);
    expect(sent.map((m) => (m.type === 'job.output' ? m.data : '')).join('')).toMatch(
      new RegExp(`${banner.port()}/tcp\\s+open`),
    );
    expect(sent.at(-1)).toMatchObject({ type: 'job.finished', jobId: 'job_offline', exitCode: 0, lastSeq });

    job.ack(finishedAckSeq(lastSeq));
    expect(job.settled).toBe(true);
    sent.length = 0;
    job.resend();
    expect(sent).toEqual([]);
  });

  it('refused by its own checks: gives back its slot, is forgotten before job.rejected goes out, and runs nothing', async () => {
    const { channel, sent } = recordingChannel();
    const job = new RunnerJob(dispatchOf('job_forged', ['-sT', '-p', '22', '--', '8.8.8.8']), OPTIONS, channel);
    expect(job.running).toBe(true); // the slot is held from the start, through the (async) checks
    let sentWhenRefused = -1;
    await job.run({ accepted: () => expect.unreachable('accepted'), refused: () => (sentWhenRefused = sent.length) });
    expect(sentWhenRefused).toBe(0);
    expect(job.running).toBe(false);
    expect(sent).toEqual([
      { type: 'job.rejected', jobId: 'job_forged', error: expect.objectContaining({ type: 'validation_error' }) },
    ]);
  });

  it('answers a repeated dispatch with job.accepted and what is still unacked, without running again', async () => {
    const { channel, sent } = recordingChannel();
    const job = new RunnerJob(dispatchOf('job_twice', argvFor(`-sT -p ${banner.port()}`)), OPTIONS, channel);
    await job.run({ accepted: () => {}, refused: () => expect.unreachable('refused') });
    const first = [...sent];
    sent.length = 0;
    job.answerRepeat();
    expect(sent).toEqual([
      { type: 'job.accepted', jobId: 'job_twice' },
      ...first.filter((m) => m.type === 'job.output' || m.type === 'job.finished'),
    ]);
  });
});

describe('refuseDispatch', () => {
  it('refuses while draining and at the concurrency limit, and takes the rest', () => {
    expect(refuseDispatch({ draining: true, running: 0, maxConcurrency: 2 })).toMatchObject({ type: 'no_runner' });
    expect(refuseDispatch({ draining: false, running: 2, maxConcurrency: 2 })).toMatchObject({
      type: 'rate_limited',
      retryAfterSec: 5,
    });
    expect(refuseDispatch({ draining: false, running: 1, maxConcurrency: 2 })).toBeUndefined();
  });
});

describe('rejectJob', () => {
  it('sends details past the protocol bounds without them, and logs the whole error', () => {
    const { channel, sent, logs } = recordingChannel();
    const error = scanError(
      'validation_error',
      'The argv differs from what the policy gives',
      'Dispatch the canonical argv.',
      {
        details: { expected: 'x'.repeat(64 * 1024) },
      },
    );
    rejectJob('job_big', error, channel);
    expect(sent).toEqual([
      {
        type: 'job.rejected',
        jobId: 'job_big',
        error: { type: 'validation_error', message: error.message, recoverySuggestion: error.recoverySuggestion },
      },
    ]);
    expect(RunnerMessageSchema.safeParse(sent[0]).success).toBe(true);
    expect(logs.join('')).toContain('"event":"job.rejected"');
  });
});
