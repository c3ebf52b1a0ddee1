import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { networkWithin } from '../shared/policy/targets.ts';
import { PROTOCOL_VERSION } from '../shared/protocol/index.ts';
import { RunnerSelfSchema, type RunnerSelf } from '../shared/protocol/runner-self.ts';
import type { Settings } from './config.ts';
import { explainConnectError } from './messages.ts';

/**
 * doctor's view of the edge: one read-only `GET /v1/runners/self`, never a WebSocket and never a hello, so a live
 * runner with the same token keeps its link. `edgeRows` turns the answer into rows and is pure.
 */
export interface Check {
  check: string;
  status: 'ok' | 'warn' | 'FAIL';
  /** One line: what was found. */
  detail: string;
  /** One line: what to do, for anything not ok. */
  fix?: string;
}

export type EdgeAnswer =
  | { kind: 'answer'; url: string; status: number; body: unknown }
  | { kind: 'error'; url: string; error: Error & { code?: string } };

const TIMEOUT_MS = 10_000;
const MAX_BODY_BYTES = 256 * 1024;

/** The self-check URL beside the runner endpoint: ws → http, wss → https, …/connect → …/self. */
export function selfCheckUrl(connectUrl: string): string {
  const url = new URL(connectUrl);
  url.protocol = url.protocol === 'wss:' ? 'https:' : 'http:';
  url.pathname = url.pathname.endsWith('/connect') ? url.pathname.replace(/\/connect$/, '/self') : '/v1/runners/self';
  url.search = '';
  return url.toString();
}

/** Asks the edge about this runner's token (or, without one, only whether the edge answers). */
export function askEdge(connectUrl: string, token: string | undefined): Promise<EdgeAnswer> {
  const url = selfCheckUrl(connectUrl);
  return new Promise((resolve) => {
    const request = (url.startsWith('https:') ? httpsRequest : httpRequest)(url, {
      method: 'GET',
      headers: { accept: 'application/json', ...(token && { authorization: `Bearer ${token}` }) },
      timeout: TIMEOUT_MS,
    });
    request.on('timeout', () => request.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    request.on('error', (error) => resolve({ kind: 'error', url, error }));
    request.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (text.length < MAX_BODY_BYTES) text += chunk;
      });
      res.on('end', () => {
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // not JSON: not the scangate edge
        }
        resolve({ kind: 'answer', url, status: res.statusCode ?? 0, body });
      });
    });
    request.end();
  });
}

function errorMessage(body: unknown): string | undefined {
  const error = (body as { error?: { message?: unknown } } | undefined)?.error;
  return typeof error?.message === 'string' ? error.message.slice(0, 300) : undefined;
}

/** The server row, and what the edge said about this runner when it said anything. */
function serverRow(settings: Settings, answer: EdgeAnswer | undefined): { row: Check; self?: RunnerSelf } {
  const fail = (detail: string, fix: string): { row: Check } => ({
    row: { check: 'server', status: 'FAIL', detail, fix },
  });
  if (settings.server.problem)
    return fail(settings.server.problem, 'Set SCANGATE_SERVER in runner.env (or --server) to wss://<edge host>.');
  if (!answer)
    return fail(
      'no server given',
      'Set SCANGATE_SERVER in runner.env (or --server) to the edge, e.g. wss://scangate.example.com.',
    );
  if (answer.kind === 'error') {
    const explained = explainConnectError(answer.url, answer.error);
    return fail(explained.detail, explained.fix);
  }
  const { url, status, body } = answer;
  const scangate = typeof body === 'object' && body !== null && ('error' in body || 'runner' in body);
  if (!scangate)
    return fail(
      `${url}: HTTP ${status}, and not from a scangate edge`,
      'Point --server at the scangate edge (its origin, e.g. wss://scangate.example.com).',
    );
  if (status === 200) {
    const parsed = RunnerSelfSchema.safeParse(body);
    if (!parsed.success)
      return fail(
        `${url}: the edge's answer does not match this runner's schema`,
        'Install the scangate-runner that matches this edge.',
      );
    const self = parsed.data;
    return {
      row: {
        check: 'server',
        status: 'ok',
        detail: `${url}: token accepted: runner ${self.runner.name} (${self.runner.id}), pool ${self.runner.pool}`,
      },
      self,
    };
  }
  if (!settings.token.value || !/^[\x21-\x7e]{1,512}$/.test(settings.token.value)) {
    return {
      row: {
        check: 'server',
        status: status === 401 ? 'warn' : 'FAIL',
        detail: `${url}: the edge answers (HTTP ${status}); no token to check`,
        fix: 'Fix the token row; then doctor checks the token with the edge.',
      },
    };
  }
  if (status === 401)
    return fail(
      `${url}: token refused (HTTP 401): it is wrong, or its runner was revoked`,
      'Have an admin mint a runner token (POST /v1/runners {name, networks}) and put it in the token file.',
    );
  if (status === 403)
    return fail(
      `${url}: HTTP 403: ${errorMessage(body) ?? 'forbidden'}`,
      'Use the runner token printed by POST /v1/runners, not an API token.',
    );
  if (status === 404) {
    return {
      row: {
        check: 'server',
        status: 'warn',
        detail: `${url}: this edge has no runner self-check (HTTP 404), so the token was not checked`,
        fix: 'Update the edge; `run` will say whether it takes the token.',
      },
    };
  }
  return fail(
    `${url}: HTTP ${status}: ${errorMessage(body) ?? 'unexpected answer'}`,
    'Retry; if it persists, check the edge.',
  );
}

/** Declared networks: valid, and inside what the edge granted (the edge refuses a hello that declares more). */
function networksRow(settings: Settings, self: RunnerSelf | undefined): Check {
  const { declared, problems } = settings.networks;
  const granted = self?.grantedNetworks;
  const suggest = granted ? `SCANGATE_NETWORKS=${granted.join(',')}` : 'SCANGATE_NETWORKS=10.20.0.0/16';
  if (problems.length > 0)
    return {
      check: 'networks',
      status: 'FAIL',
      detail: problems.join('; '),
      fix: `Write each as a network address with its prefix, e.g. ${suggest}.`,
    };
  if (declared.length === 0)
    return {
      check: 'networks',
      status: 'FAIL',
      detail: 'none declared: a runner must be told which networks it may scan',
      fix: `Add ${suggest} to runner.env (or --network).`,
    };
  if (!granted)
    return {
      check: 'networks',
      status: 'warn',
      detail: `declared ${declared.join(', ')}; not compared with the grant (the edge did not answer)`,
      fix: 'Fix the server row.',
    };
  const ungranted = declared.filter((n) => !granted.some((g) => networkWithin(n, g)));
  if (ungranted.length > 0) {
    return {
      check: 'networks',
      status: 'FAIL',
      detail: `declares ${ungranted.join(', ')}, which was not granted to this runner (granted: ${granted.join(', ')}): the edge would refuse its hello`,
      fix: `Declare networks inside the grant (${suggest}), or have an admin create a runner granted the networks it should serve.`,
    };
  }
  const outside = declared.filter((n) => !self.policy.allowedNetworks.some((a) => networkWithin(n, a)));
  if (outside.length > 0) {
    return {
      check: 'networks',
      status: 'warn',
      detail: `${outside.join(', ')} is outside the pool policy's allowed networks: the edge refuses scans there`,
      fix: 'Ask an admin to allow it in the policy, or drop it.',
    };
  }
  return {
    check: 'networks',
    status: 'ok',
    detail: `declared ${declared.join(', ')}, inside the grant (${granted.join(', ')})`,
  };
}

/** Whether a runner holds the link with this token now: doctor only reads it, whatever it is. */
function linkRow(self: RunnerSelf): Check {
  const { link } = self;
  if (link.online) {
    const what = [
      link.runnerVersion && `runner ${link.runnerVersion}`,
      link.nmapVersion && `nmap ${link.nmapVersion}`,
      link.privileged !== null && (link.privileged ? 'privileged' : 'unprivileged'),
      link.declaredNetworks && `networks ${link.declaredNetworks.join(', ')}`,
    ].filter(Boolean);
    return {
      check: 'link',
      status: 'ok',
      detail: `a runner is connected with this token now (${what.join(', ')}); doctor left its link alone`,
    };
  }
  return {
    check: 'link',
    status: 'warn',
    detail: `no runner is connected with this token${link.lastSeen ? ` (last seen ${link.lastSeen})` : ' (never connected)'}`,
    fix: 'Start it: systemctl enable --now scangate-runner; its log: journalctl -u scangate-runner.',
  };
}

function protocolRow(self: RunnerSelf): Check {
  if (self.edge.protocols.includes(PROTOCOL_VERSION))
    return {
      check: 'protocol',
      status: 'ok',
      detail: `the edge speaks protocol ${PROTOCOL_VERSION}, as this runner does`,
    };
  return {
    check: 'protocol',
    status: 'FAIL',
    detail: `the edge speaks protocol ${self.edge.protocols.join(', ')}; this runner speaks ${PROTOCOL_VERSION}`,
    fix: 'Install the scangate-runner version that matches this edge.',
  };
}

/** The lab admin's consent against the pool's: both must allow intrusive or evasion scans. */
function consentRow(settings: Settings, self: RunnerSelf): Check {
  const notes: string[] = [];
  let status: Check['status'] = 'ok';
  for (const [what, mine, pools, flag] of [
    ['intrusive', settings.allowIntrusive, self.policy.allowIntrusive, 'SCANGATE_ALLOW_INTRUSIVE=1'],
    ['evasion', settings.allowEvasion, self.policy.allowEvasion, 'SCANGATE_ALLOW_EVASION=1'],
  ] as const) {
    if (mine && !pools) {
      status = 'warn';
      notes.push(`${what}: allowed here, but the pool policy refuses them, so this has no effect`);
    } else if (pools && !mine)
      notes.push(`${what}: the pool allows them, this host refuses them (${flag} to serve them)`);
    else notes.push(`${what}: ${mine ? 'allowed' : 'refused'} here and by the pool`);
  }
  return {
    check: 'consent',
    status,
    detail: notes.join('; '),
    ...(status !== 'ok' && { fix: 'Drop the flag, or ask an admin to allow it in the pool policy.' }),
  };
}

/** Every row that depends on the edge: server, link, protocol, networks, consent. */
export function edgeRows(settings: Settings, answer: EdgeAnswer | undefined): Check[] {
  const { row, self } = serverRow(settings, answer);
  if (!self) return [row, networksRow(settings, undefined)];
  const breaker: Check[] =
    self.breaker === 'CLOSED'
      ? []
      : [
          {
            check: 'breaker',
            status: 'warn',
            detail: `the edge's breaker for this runner is ${self.breaker}: it gets no new scans until a probe succeeds`,
            fix: 'See why in GET /v1/breakers (or the dashboard); an admin can reset it once the cause is fixed.',
          },
        ];
  return [row, linkRow(self), ...breaker, protocolRow(self), networksRow(settings, self), consentRow(settings, self)];
}
