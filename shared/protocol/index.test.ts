import { describe, expect, it } from 'vitest';
import { validateScanRequest } from '../policy/index.ts';
import {
  encodeEdgeFrame,
  encodeRunnerFrame,
  MAX_FRAME_BYTES,
  MAX_OUTPUT_CHUNK_BYTES,
  MAX_XML_BYTES,
  nestsAtMost,
  parseEdgeFrame,
  parseRunnerFrame,
  PROTOCOL_VERSION,
  utf8ByteLength,
  type EdgeMessage,
  type RunnerMessage,
} from './index.ts';

const argv = (() => {
  const r = validateScanRequest({ target: '127.0.0.1', template: 'quick' });
  if (!r.ok) throw new Error('setup');
  return r.argv;
})();

const report = {
  scanner: {
    version: '7.93',
    args: `nmap ${argv.join(' ')}`,
    startedAt: '2026-11-25T07:00:00.000Z',
    endedAt: '2026-11-25T07:00:01.000Z',
  },
  hosts: [
    {
      status: 'up' as const,
      reason: 'user-set',
      addresses: [{ addr: '127.0.0.1', type: 'ipv4' as const, vendor: null }],
      hostnames: [{ name: 'localhost', type: 'PTR' }],
      ports: [
        {
          protocol: 'tcp' as const,
          port: 22,
          state: 'open',
          reason: 'syn-ack',
          service: {
            name: 'ssh',
            product: 'OpenSSH',
            version: '9.2p1',
            extraInfo: null,
            tunnel: null,
            method: 'probed',
            confidence: 10,
          },
          cpe: ['cpe:/a:openbsd:openssh:9.2p1'],
          scripts: [{ id: 'ssh-hostkey', output: '<script>alert(1)</script> is just text' }],
        },
      ],
      extraPorts: [{ state: 'closed', count: 99 }],
      hostScripts: [],
      os: [],
    },
  ],
  stats: {
    hostsUp: 1,
    hostsDown: 0,
    hostsTotal: 1,
    elapsedSec: 0.5,
    exit: 'success' as const,
    summary: 'Nmap done',
    errorMessage: null,
  },
};

const runnerMessages: RunnerMessage[] = [
  {
    type: 'hello',
    protocol: PROTOCOL_VERSION,
    runnerVersion: '0.1.0',
    nmapVersion: '7.93',
    privileged: false,
    maxConcurrency: 2,
    networks: ['127.0.0.0/8', 'fd00::/8'],
    resume: [{ jobId: 'job_1', lastSeq: 3, finished: true }],
  },
  { type: 'job.accepted', jobId: 'job_1' },
  {
    type: 'job.rejected',
    jobId: 'job_1',
    error: { type: 'validation_error', message: 'Target 8.8.8.8 is outside', recoverySuggestion: 'Use 127.0.0.1' },
  },
  { type: 'job.output', jobId: 'job_1', seq: 1, stream: 'stdout', data: 'Starting Nmap 7.93 ✓\n' },
  { type: 'job.output', jobId: 'job_1', seq: 3, stream: 'xml', data: '<?xml version="1.0" encoding="UTF-8"?>\n' },
  { type: 'job.progress', jobId: 'job_1', percent: 42.5, etaSec: 12 },
  { type: 'job.progress', jobId: 'job_1', percent: 100 },
  {
    type: 'job.finished',
    jobId: 'job_1',
    lastSeq: 4,
    exitCode: 0,
    signal: null,
    timedOut: false,
    cancelled: false,
    durationMs: 1234,
    truncated: { stdout: false, stderr: false },
    report,
    xml: { bytes: 41, truncated: false },
    error: null,
  },
  {
    type: 'job.finished',
    jobId: 'job_2',
    lastSeq: 0,
    exitCode: null,
    signal: null,
    timedOut: false,
    cancelled: false,
    durationMs: 3,
    truncated: { stdout: false, stderr: false },
    report: null,
    error: {
      type: 'execution_error',
      message: 'nmap could not be started: ENOENT',
      recoverySuggestion: 'Install nmap on the runner host',
    },
  },
];

const edgeMessages: EdgeMessage[] = [
  { type: 'welcome', runnerId: 'rn_1', heartbeatSec: 30 },
  {
    type: 'job.dispatch',
    jobId: 'job_1',
    argv,
    timeoutSec: 600,
    policy: {
      allowedHostSuffixes: ['.lab.internal'],
      allowIntrusive: false,
      allowEvasion: false,
      maxHosts: 1024,
      maxTargets: 16,
      maxPortRanges: 100,
    },
    limits: { stdoutMaxBytes: 1024 * 1024, stderrMaxBytes: 256 * 1024 },
  },
  { type: 'job.cancel', jobId: 'job_1' },
  { type: 'edge.features', features: ['xml'] },
  { type: 'edge.features', features: ['xml', 'a-feature-of-a-newer-edge'] },
  { type: 'ack', jobId: 'job_1', seq: 4 },
  {
    type: 'error',
    code: 'unsupported_protocol',
    message: 'Protocol 9 is not supported',
    recoverySuggestion: 'Upgrade the runner',
    supportedProtocols: [1],
  },
];

describe('runner → edge frames', () => {
  it.each(runnerMessages.map((m) => [m.type, m] as const))('%s round-trips', (_t, message) => {
    const parsed = parseRunnerFrame(encodeRunnerFrame(message));
    expect(parsed).toEqual({ ok: true, message });
  });
});

describe('edge → runner frames', () => {
  it.each(edgeMessages.map((m) => [m.type, m] as const))('%s round-trips', (_t, message) => {
    const parsed = parseEdgeFrame(encodeEdgeFrame(message));
    expect(parsed).toEqual({ ok: true, message });
  });
});

function finishedOf(messages: RunnerMessage[]): RunnerMessage {
  return messages.find((m) => m.type === 'job.finished')!;
}

describe('nmap XML in job.finished', () => {
  it('is optional: a runner older than the field (no xml key) is still understood, and null means none', () => {
    const { xml: _xml, ...old } = finishedOf(runnerMessages) as Extract<RunnerMessage, { type: 'job.finished' }>;
    expect(parseRunnerFrame(JSON.stringify(old))).toEqual({ ok: true, message: old });
    const none = { ...old, xml: null };
    expect(parseRunnerFrame(JSON.stringify(none))).toEqual({ ok: true, message: none });
  });
});

describe('malformed frames are refused with a reason', () => {
  const output = { type: 'job.output', jobId: 'j', seq: 1, stream: 'stdout', data: 'x' };
  it.each([
    ['binary', new Uint8Array([1, 2]), /JSON text/],
    ['not JSON', '{type:', /not valid JSON/],
    ['unknown type', JSON.stringify({ type: 'job.explode', jobId: 'j' }), /malformed job\.explode/],
    ['no type', JSON.stringify({ jobId: 'j' }), /malformed/],
    ['extra key', JSON.stringify({ ...output, shell: 'rm -rf /' }), /shell|Unrecognized|unrecognized/],
    ['seq 0', JSON.stringify({ ...output, seq: 0 }), /seq/],
    ['seq not integer', JSON.stringify({ ...output, seq: 1.5 }), /seq/],
    ['bad stream', JSON.stringify({ ...output, stream: 'stdin' }), /stream/],
    ['empty data', JSON.stringify({ ...output, data: '' }), /data/],
    [
      'oversized data',
      JSON.stringify({ ...output, data: 'é'.repeat(MAX_OUTPUT_CHUNK_BYTES / 2 + 1) }),
      /at most 65536 bytes/,
    ],
    ['bad job id', JSON.stringify({ ...output, jobId: '../../etc' }), /jobId/],
    [
      'hello with a non-canonical network',
      JSON.stringify({ ...runnerMessages[0], networks: ['10.0.0.1/8'] }),
      /networks/,
    ],
    ['hello without networks', JSON.stringify({ ...runnerMessages[0], networks: [] }), /networks/],
    ['progress over 100', JSON.stringify({ type: 'job.progress', jobId: 'j', percent: 101 }), /percent/],
    ['edge frame from the runner', encodeEdgeFrame(edgeMessages[0]!), /malformed welcome/],
    ['oversized frame', JSON.stringify({ ...output, data: 'x'.repeat(MAX_FRAME_BYTES) }), /larger than/],
    [
      'oversized xml chunk',
      JSON.stringify({ ...output, stream: 'xml', data: 'x'.repeat(MAX_OUTPUT_CHUNK_BYTES + 1) }),
      /at most 65536 bytes/,
    ],
    [
      'finished claiming more XML than any job keeps',
      JSON.stringify({ ...finishedOf(runnerMessages), xml: { bytes: MAX_XML_BYTES + 1, truncated: true } }),
      /xml\.bytes/,
    ],
    [
      'finished with an XML field of the wrong shape',
      JSON.stringify({ ...finishedOf(runnerMessages), xml: { bytes: 10, truncated: false, text: '<nmaprun/>' } }),
      /xml/,
    ],
  ])('%s', (_name, frame, problem) => {
    const parsed = parseRunnerFrame(frame);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.problem).toMatch(problem);
  });

  it('refuses a dispatch with a bad argv, timeout or limits', () => {
    const dispatch = edgeMessages[1] as Extract<EdgeMessage, { type: 'job.dispatch' }>;
    for (const bad of [
      { ...dispatch, argv: [] },
      { ...dispatch, argv: [...argv.slice(0, -1), 'x'.repeat(256)] },
      { ...dispatch, timeoutSec: 0 },
      { ...dispatch, timeoutSec: 7200 },
      { ...dispatch, limits: { stdoutMaxBytes: 1, stderrMaxBytes: 1 } },
      { ...dispatch, policy: { ...dispatch.policy, maxHosts: 1e9 } },
    ]) {
      expect(parseEdgeFrame(JSON.stringify(bad)).ok).toBe(false);
    }
  });

  it('refuses a runner frame sent as an edge frame and vice versa', () => {
    expect(parseEdgeFrame(encodeRunnerFrame(runnerMessages[1]!)).ok).toBe(false);
  });

  it('will not encode a malformed frame', () => {
    expect(() => encodeRunnerFrame({ type: 'job.accepted', jobId: '' } as RunnerMessage)).toThrow();
  });
});

describe('utf8ByteLength', () => {
  it('counts as UTF-8 does', () => {
    for (const s of ['', 'abc', 'é', '✓', '😀', 'a😀é✓', '\ud800']) {
      expect(utf8ByteLength(s), s).toBe(new TextEncoder().encode(s).length);
    }
  });
});

describe('error details a peer sends are bounded', () => {
  const rejected = (details: unknown) =>
    JSON.stringify({
      type: 'job.rejected',
      jobId: 'job_1',
      error: { type: 'validation_error', message: 'no', recoverySuggestion: 'fix it', details },
    });
  const deep = (n: number) => {
    let v: unknown = 'bottom';
    for (let i = 0; i < n; i++) v = { a: v };
    return v as Record<string, unknown>;
  };

  it('refuses details nested 2,500 deep without walking or serializing them whole', () => {
    const parsed = parseRunnerFrame(rejected(deep(2500)));
    expect(!parsed.ok && parsed.problem).toMatch(/nest at most 4 levels/);
  });

  it('refuses details larger than 32 KiB, and takes ordinary ones', () => {
    expect(parseRunnerFrame(rejected({ blob: 'x'.repeat(40_000) })).ok).toBe(false);
    expect(parseRunnerFrame(rejected({ option: '-iL', expected: ['-sV', '--'] })).ok).toBe(true);
    expect(parseRunnerFrame(rejected(deep(4))).ok).toBe(true);
    expect(parseRunnerFrame(rejected(deep(5))).ok).toBe(false);
  });

  it('counts depth level by level', () => {
    expect(nestsAtMost({ a: [1, { b: 2 }] }, 3)).toBe(true);
    expect(nestsAtMost({ a: [1, { b: [3] }] }, 3)).toBe(false);
    expect(nestsAtMost('x', 0)).toBe(true);
  });
});
