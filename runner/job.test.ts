import { describe, expect, it } from 'vitest';
import { useBannerServer } from '../test/helpers/banner-server.ts';
import { scanError } from '../shared/errors/index.ts';
import { validateScanRequest } from '../shared/policy/index.ts';
import { finishedAckSeq, RunnerMessageSchema, type JobDispatch, type RunnerMessage } from '../shared/protocol/index.ts';
import { parseNmapXml } from '../shared/nmap-xml/index.ts';
import { utf8ByteLength } from '../shared/protocol/index.ts';
import { refuseDispatch, rejectJob, RunnerJob, xmlChunks, type JobChannel, type JobOptions } from './job.ts';
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
function recordingChannel(features: string[] = ['xml']) {
  const sent: RunnerMessage[] = [];
  const logs: string[] = [];
  const state = { up: true };
  const channel: JobChannel = {
    send: (frame) => void (state.up && sent.push(frame)),
    log: createLogger((line) => logs.push(line)),
    edgeTakes: (feature) => features.includes(feature),
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

describe('nmap XML sent with the result', () => {
  it('goes out after the output as xml frames, before job.finished, which gives its size; it is the report nmap wrote', async () => {
    const { channel, sent } = recordingChannel();
    const job = new RunnerJob(dispatchOf('job_xml', argvFor(`-sT -sV -p ${banner.port()}`)), OPTIONS, channel);
    await job.run({ accepted: () => {}, refused: () => expect.unreachable('refused') });
    const outputs = sent.filter((m) => m.type === 'job.output');
    const streams = outputs.map((m) => m.stream);
    const firstXml = streams.indexOf('xml');
    expect(firstXml).toBeGreaterThan(0);
    expect(streams.slice(firstXml).every((s) => s === 'xml')).toBe(true);
    expect(outputs.map((m) => m.seq)).toEqual(outputs.map((_, i) => i + 1));
    const finished = sent.at(-1)!;
    if (finished.type !== 'job.finished') throw new Error('the result is last');
    const xml = outputs
      .filter((m) => m.stream === 'xml')
      .map((m) => m.data)
      .join('');
    expect(finished.xml).toEqual({ bytes: utf8ByteLength(xml), truncated: false });
    expect(xml).toMatch(/^<\?xml version="1\.0" encoding="UTF-8"\?>\n<!DOCTYPE nmaprun>/);
    expect(xml.trimEnd()).toMatch(/<\/nmaprun>$/);
    const parsed = parseNmapXml(xml);
    expect(parsed.ok && parsed.report.scanner).toEqual(finished.report?.scanner);
    expect(finished.lastSeq).toBe(outputs.length);
  });

  it('sends neither the XML frames nor the field to an edge that did not announce it takes them', async () => {
    const { channel, sent } = recordingChannel([]);
    const job = new RunnerJob(dispatchOf('job_old_edge', argvFor(`-sT -p ${banner.port()}`)), OPTIONS, channel);
    await job.run({ accepted: () => {}, refused: () => expect.unreachable('refused') });
    expect(sent.filter((m) => m.type === 'job.output').every((m) => m.stream !== 'xml')).toBe(true);
    const finished = sent.at(-1)!;
    expect(finished.type).toBe('job.finished');
    expect('xml' in finished).toBe(false);
    expect(finished).toMatchObject({ exitCode: 0, report: { stats: { hostsUp: 1 } } });
  });

  it('cuts text into chunks of at most the frame size without splitting a character', () => {
    const text = `${'a'.repeat(9)}😀é${'b'.repeat(20)}`;
    for (const max of [4, 5, 7, 10, 64]) {
      const chunks = xmlChunks(text, max);
      expect(chunks.join('')).toBe(text);
      for (const c of chunks) {
        expect(utf8ByteLength(c)).toBeLessThanOrEqual(max);
        expect(c).toBe(new TextDecoder().decode(new TextEncoder().encode(c)));
      }
    }
    expect(xmlChunks('')).toEqual([]);
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
