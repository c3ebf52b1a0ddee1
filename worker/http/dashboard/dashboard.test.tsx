import { describe, expect, it } from 'vitest';
import { ADMIN, api, dashboardLogin, mintRunner, mintToken, TestRunner } from '../../test/helpers/runner-client.ts';
import { perMinute, type DashboardData } from '../../objects/coordinator/dashboard-data.ts';
import { ScanPage } from './scan-page.tsx';
import { renderSections } from './views.tsx';

const HOSTILE = '<img src=x onerror="alert(1)">';

function data(overrides: Partial<DashboardData> = {}): DashboardData {
  return {
    now: Date.UTC(2026, 10, 28, 12, 0, 30),
    allowIntrusive: false,
    queueDepth: 0,
    runners: [],
    breakers: [],
    scans: [],
    perMinute: [],
    changes: [],
    alerts: { rules: [], recent: [], failures: [] },
    ...overrides,
  };
}

describe('dashboard data (pure)', () => {
  it('buckets ended scans into the last 60 minutes by outcome, current minute last, older ones dropped', () => {
    const now = Date.UTC(2026, 10, 28, 12, 0, 30);
    const buckets = perMinute(
      [
        { finished_at: now - 1000, status: 'succeeded' },
        { finished_at: now - 2000, status: 'failed' },
        { finished_at: now - 60_000, status: 'cancelled' },
        { finished_at: now - 61 * 60_000, status: 'succeeded' },
        { finished_at: now - 5000, status: 'running' as never },
      ],
      now,
    );
    expect(buckets).toHaveLength(60);
    expect(buckets.at(-1)).toMatchObject({ minute: Math.floor(now / 60_000), succeeded: 1, failed: 1, cancelled: 0 });
    expect(buckets.at(-2)).toMatchObject({ cancelled: 1 });
    expect(buckets.reduce((n, b) => n + b.succeeded + b.failed + b.cancelled + b.rejected, 0)).toBe(3);
  });
});

describe('dashboard views escape what came from outside', () => {
  it('renders hostile names and targets as text in the live sections', async () => {
    const sections = await renderSections(
      data({
        scans: [
          {
            id: 'scan_x',
            status: 'succeeded',
            targets: [HOSTILE],
            by: HOSTILE,
            createdAt: new Date().toISOString(),
            durationMs: 1000,
            openPorts: 0,
            percent: null,
          },
        ],
        breakers: [
          {
            runnerId: 'rn_x',
            runner: 'r1',
            state: 'OPEN',
            failures: 5,
            threshold: 5,
            recoveryTimeoutSec: 120,
            halfOpenAt: Date.now() + 60_000,
            transitions: [],
            lastError: HOSTILE,
          },
        ],
      }),
    );
    expect(sections.scans).not.toContain('<img');
    expect(sections.scans).toContain('&lt;img');
    expect(sections.breakers).not.toContain('<img');
    expect(sections.breakers).toMatch(/data-countdown="\d+"/);
    expect(sections.breakers).toContain('data-state="OPEN"');
  });

  it('shows a banner full of markup on the scan page as text', async () => {
    const output = `22/tcp open ssh ${HOSTILE}</pre><script>alert(2)</script>`;
    const html = String(
      <ScanPage
        nonce="n"
        csrf="c"
        who="admin"
        scan={{
          id: 'scan_x',
          status: 'succeeded',
          targets: ['127.0.0.1'],
          argv: ['-sT', '--', '127.0.0.1'],
          warnings: [],
          needsPrivilege: false,
          timeoutSec: 60,
          requestedBy: { tokenId: 't', name: 'n' },
          runnerId: 'rn_x',
          createdAt: new Date().toISOString(),
          dispatchedAt: null,
          startedAt: null,
          finishedAt: null,
          progress: null,
          exitCode: 0,
          signal: null,
          timedOut: false,
          truncated: { stdout: false, stderr: false },
          durationMs: 5,
          error: null,
          report: null,
          outputBytes: 10,
          changes: null,
          scheduleId: null,
          output,
        }}
      />,
    );
    expect(html).not.toContain('<script>alert(2)');
    expect(html).toContain('&lt;/pre&gt;&lt;script&gt;');
    expect(html.match(/<script/g)).toHaveLength(1); // the page's own, nonce'd
    expect(html).toContain('<script nonce="n">');
  });
});

const logIn = dashboardLogin;

describe('dashboard sessions, CSRF and CSP (real Worker in workerd)', () => {
  it('sets an HttpOnly, SameSite=Strict, Secure __Host- cookie over https and a nonce CSP', async () => {
    const res = await api('/dashboard/login', {
      method: 'POST',
      body: new URLSearchParams({ token: ADMIN }),
      redirect: 'manual',
    });
    expect(res.headers.get('set-cookie')).toMatch(
      /^__Host-sg_session=sgs_[0-9a-f][\w-]{43}; Max-Age=28800; Path=\/; HttpOnly; Secure; SameSite=Strict$/,
    );
    const { cookie } = await logIn(ADMIN);
    const page = await api('/dashboard', { headers: { cookie } });
    const csp = page.headers.get('content-security-policy')!;
    const nonce = /script-src 'nonce-([^']+)'/.exec(csp)![1]!;
    expect(await page.text()).toContain(`<script nonce="${nonce}">`);
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toContain('unsafe-inline');
  });

  it('refuses actions without the CSRF token or from another origin, and performs them with it', async () => {
    const { cookie, csrf } = await logIn(ADMIN);
    const act = (form: Record<string, string>, headers: Record<string, string> = {}) =>
      api('/dashboard/actions', {
        method: 'POST',
        headers: { cookie, ...headers },
        body: new URLSearchParams(form),
        redirect: 'manual',
      });
    expect((await act({ action: 'policy-intrusive', target: 'policy', value: 'on' })).status).toBe(403);
    expect((await act({ action: 'policy-intrusive', target: 'policy', value: 'on', csrf: 'wrong' })).status).toBe(403);
    expect(
      (
        await act(
          { action: 'policy-intrusive', target: 'policy', value: 'on', csrf },
          { origin: 'https://evil.example' },
        )
      ).status,
    ).toBe(403);
    expect(
      (await (await api('/v1/policy', { token: ADMIN })).json<{ policy: { allowIntrusive: boolean } }>()).policy
        .allowIntrusive,
    ).toBe(false);

    const ok = await act({ action: 'policy-intrusive', target: 'policy', value: 'on', csrf });
    expect(ok.status).toBe(303);
    expect(ok.headers.get('location')).toMatch(/notice=Intrusive/);
    expect(
      (await (await api('/v1/policy', { token: ADMIN })).json<{ policy: { allowIntrusive: boolean } }>()).policy
        .allowIntrusive,
    ).toBe(true);
    const audit = await (await api('/v1/audit?limit=5', { token: ADMIN })).text();
    expect(audit).toContain('bootstrap admin (dashboard)');
    await act({ action: 'policy-intrusive', target: 'policy', value: 'off', csrf });
  });

  it('cancels a running scan from the dashboard, audited as the admin through the dashboard', async () => {
    const minted = await mintRunner('dash-runner');
    const runner = await TestRunner.ready(minted.token, { networks: ['127.66.0.0/16'] });
    try {
      const token = await mintToken('scan', 'dash-user');
      const created = await (await api('/v1/scans', { method: 'POST', token, json: { target: '127.66.0.1' } })).json<{
        scan: { id: string; status: string };
      }>();
      expect(created.scan.status).toBe('dispatched');
      const { cookie, csrf } = await logIn(ADMIN);
      // The runners table shows what the runner declared and, in brackets, what it was granted.
      expect(await (await api('/dashboard', { headers: { cookie } })).text()).toContain('127.66.0.0/16 (127.0.0.0/8)');
      const res = await api('/dashboard/actions', {
        method: 'POST',
        headers: { cookie },
        body: new URLSearchParams({ action: 'scan-cancel', target: created.scan.id, csrf }),
        redirect: 'manual',
      });
      expect(res.status).toBe(303);
      expect(await runner.next((m) => m.type === 'job.cancel')).toMatchObject({ jobId: created.scan.id });
      const audit = await (await api('/v1/audit?limit=10', { token: ADMIN })).json<{
        entries: Array<{ actor: string; action: string }>;
      }>();
      expect(JSON.stringify(audit)).toMatch(
        /"actor":"bootstrap admin \(dashboard\)","action":"scan\.cancel"|scan\.cancel[^}]*bootstrap admin \(dashboard\)/,
      );
    } finally {
      runner.close();
    }
  });

  it('answers a scan that is not there with the one not_found REST gives, malformed id or unknown', async () => {
    const { cookie } = await logIn(ADMIN);
    const rest = await api('/v1/scans/scan_nope', { token: ADMIN });
    expect(rest.status).toBe(404);
    const expected = {
      error: {
        type: 'not_found',
        message: 'No scan scan_nope',
        recoverySuggestion: 'List your scans with GET /v1/scans.',
      },
    };
    expect(await rest.json()).toEqual(expected);
    for (const path of ['/dashboard/scans/scan_nope', '/dashboard/scans/scan_nope/events']) {
      const res = await api(path, { headers: { cookie } });
      expect(res.status, path).toBe(404);
      expect(await res.json(), path).toEqual(expected);
    }
    const malformed = await api('/dashboard/scans/scan_no!pe', { headers: { cookie } });
    expect(malformed.status).toBe(404);
    expect(await malformed.json()).toEqual({ error: { ...expected.error, message: 'No scan scan_no!pe' } });
  });

  it('ends a session at logout and when its admin token is revoked', async () => {
    const minted = await (
      await api('/v1/tokens', { method: 'POST', token: ADMIN, json: { name: 'dash-admin', role: 'admin' } })
    ).json<{ id: string; token: string }>();
    const { cookie, csrf } = await logIn(minted.token);
    expect((await api('/dashboard/events', { headers: { cookie } })).status).toBe(200);
    await api(`/v1/tokens/${minted.id}`, { method: 'DELETE', token: ADMIN });
    expect((await api('/dashboard/events', { headers: { cookie } })).status).toBe(401);
    expect(await (await api('/dashboard', { headers: { cookie } })).text()).toContain('Log in with an admin token');

    const second = await logIn(ADMIN);
    const out = await api('/dashboard/logout', {
      method: 'POST',
      headers: { cookie: second.cookie },
      body: new URLSearchParams({ csrf: second.csrf }),
      redirect: 'manual',
    });
    expect(out.status).toBe(303);
    expect((await api('/dashboard/events', { headers: { cookie: second.cookie } })).status).toBe(401);
    expect(csrf).not.toBe(second.csrf);
  });

  it('streams a first snapshot of every live section', async () => {
    const { cookie } = await logIn(ADMIN);
    const res = await api('/dashboard/events', { headers: { cookie } });
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    const reader = res.body!.getReader();
    let text = '';
    while (!text.includes('\n\n')) text += new TextDecoder().decode((await reader.read()).value);
    await reader.cancel();
    const frame = JSON.parse(
      text
        .split('\n')
        .find((l) => l.startsWith('data: '))!
        .slice(6),
    ) as { sections: Record<string, string> };
    expect(Object.keys(frame.sections).sort()).toEqual([
      'alerts',
      'breakers',
      'changes',
      'chart',
      'runners',
      'scans',
      'summary',
    ]);
  });

  it('streams a scan page that follows the scan to its end, re-rendered and escaped, then says final and ends', async () => {
    const minted = await mintRunner('dash-live-runner');
    const runner = await TestRunner.ready(minted.token, { networks: ['127.67.0.0/16'] });
    try {
      const token = await mintToken('scan', 'dash-live-user');
      const id = (
        await (
          await api('/v1/scans', { method: 'POST', token, json: { target: '127.67.0.1' } })
        ).json<{ scan: { id: string } }>()
      ).scan.id;
      await runner.next((m) => m.type === 'job.dispatch');
      const { cookie } = await logIn(ADMIN);
      expect((await api(`/dashboard/scans/${id}/events`)).status).toBe(401);
      expect((await api('/dashboard/scans/scan_nosuchscan/events', { headers: { cookie } })).status).toBe(404);

      const res = await api(`/dashboard/scans/${id}/events`, { headers: { cookie } });
      expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
      const frames = snapshotFrames(res.body!);
      const first = await frames.until(() => true);
      expect(first.final).toBe(false);
      expect(Object.keys(first.sections).sort()).toEqual([
        'scan-changes',
        'scan-facts',
        'scan-output',
        'scan-ports',
        'scan-status',
      ]);
      expect(first.sections['scan-status']).toContain('status-dispatched');

      runner.send({ type: 'job.progress', jobId: id, percent: 40, phase: 'Connect Scan' });
      const moving = await frames.until((f) => f.sections['scan-facts']!.includes('40%'));
      expect(moving.sections['scan-facts']).toContain('40% (Connect Scan)');
      expect(moving.final).toBe(false);

      runner.finish(id, [`Nmap done: ${HOSTILE}\n`]);
      const last = await frames.until((f) => f.final);
      expect(last.sections['scan-status']).toContain('status-succeeded');
      expect(last.sections['scan-output']).toContain('Nmap done: &lt;img');
      expect(last.sections['scan-output']).not.toContain('<img');
      expect(last.sections['scan-facts']).not.toContain('Cancel scan');
      expect(await frames.ended()).toBe(true);
    } finally {
      runner.close();
    }
  });
});

/** Reads `snapshot` frames off an SSE body, as the page's script does. */
function snapshotFrames(body: ReadableStream<Uint8Array>) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let done = false;
  type Frame = { now: number; final: boolean; sections: Record<string, string> };
  const nextFrame = async (): Promise<Frame | undefined> => {
    for (;;) {
      const end = buffer.indexOf('\n\n');
      if (end >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = block.split('\n').find((l) => l.startsWith('data: '));
        if (block.includes('event: snapshot') && data) return JSON.parse(data.slice(6)) as Frame;
        continue;
      }
      if (done) return undefined;
      const chunk = await reader.read();
      if (chunk.done) done = true;
      else buffer += decoder.decode(chunk.value, { stream: true });
    }
  };
  return {
    async until(match: (frame: Frame) => boolean): Promise<Frame> {
      for (;;) {
        const frame = await nextFrame();
        if (!frame) throw new Error('the stream ended first');
        if (match(frame)) return frame;
      }
    },
    async ended(): Promise<boolean> {
      return (await nextFrame()) === undefined && done;
    },
  };
}
