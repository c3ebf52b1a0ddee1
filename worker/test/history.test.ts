import { env, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { type Coordinator, getCoordinator } from '../objects/coordinator.do.ts';
import { finishedScan } from './helpers/history-scans.ts';
import { ADMIN, api, dashboardLogin, json, mintToken, runnersOnOwnNets } from './helpers/runner-client.ts';

/**
 * Scan history through the API: each finished scan feeds its token's inventory, and a diff compares it with the
 * previous scan of the same targets. The reports are real nmap XML of a loopback listener as it changed
 * (test/fixtures/nmap/diff), moved onto this test's own network and sent by a test runner over a real WebSocket.
 * Tenancy is attacked: another token of the same pool can neither diff, nor diff against, nor see in its inventory
 * what the first token's scans found.
 */
const newRunner = runnersOnOwnNets('history-runner', 160);

const diffOf = async (id: string, token: string, against?: string) =>
  api(`/v1/scans/${id}/diff${against ? `?against=${against}` : ''}`, { token });

describe('scan diffs through the API', () => {
  it('compares each finished scan with the previous scan of the same targets', async () => {
    const { net, runner } = await newRunner();
    const token = await mintToken('scan', `history-${net}`);
    const first = await finishedScan(runner, net, token, 'up');
    const second = await finishedScan(runner, net, token, 'down');
    const third = await finishedScan(runner, net, token, 'newBanner');
    const host = `127.${net}.0.1`;

    const initial = await json(await diffOf(first, token));
    expect(initial).toMatchObject({ base: null, diff: null });
    expect(initial.summary).toContain('No earlier finished scan');

    const closed = await json(await diffOf(second, token));
    expect(closed.base.id).toBe(first);
    expect(closed.diff.ports.closed).toEqual([{ host, port: 2222, protocol: 'tcp', from: 'open', to: 'closed' }]);
    expect(closed.summary).toBe(`Since ${first}: 1 port closed.`);
    // The scan itself says so, worked out when it finished.
    const kept = (await json(await api(`/v1/scans/${second}`, { token }))).scan.changes;
    expect(kept).toMatchObject({
      since: first,
      summary: closed.summary,
      quiet: false,
      counts: { closed: 1, opened: 0 },
    });
    expect((await json(await api(`/v1/scans/${first}`, { token }))).scan.changes).toBeNull();

    const reopened = await json(await diffOf(third, token));
    expect(reopened.base.id).toBe(second);
    expect(reopened.diff.ports.opened.map((p: { port: number }) => p.port)).toEqual([2222]);
    expect(reopened.diff.certificates[0].fields).toContain('subject');

    const named = await json(await diffOf(third, token, first));
    expect(named.base.id).toBe(first);
    expect(named.diff.services[0]).toMatchObject({
      port: 2222,
      from: { version: '7.4' },
      to: { version: '8.9p1 Ubuntu 3' },
    });
    expect(named.diff.ports.opened).toEqual([]);
  });

  it("another token of the pool cannot diff, or diff against, a token's scans, nor inherit them as a base", async () => {
    const { net, runner } = await newRunner();
    const owner = await mintToken('scan', `history-owner-${net}`);
    const other = await mintToken('scan', `history-other-${net}`);
    const ownerScan = await finishedScan(runner, net, owner, 'up');
    const otherScan = await finishedScan(runner, net, other, 'down');

    const direct = await diffOf(ownerScan, other);
    expect(direct.status).toBe(404);
    expect((await json(direct)).error.type).toBe('not_found');
    const against = await diffOf(otherScan, other, ownerScan);
    expect(against.status).toBe(404);
    expect(JSON.stringify(await json(against))).not.toContain('2222');
    // Same targets, earlier, but not this token's: not a base.
    expect((await json(await diffOf(otherScan, other))).base).toBeNull();
    expect((await json(await api(`/v1/scans/${otherScan}`, { token: other }))).scan.changes).toBeNull();
    // The pool's admin may compare any two.
    const admin = await json(await diffOf(otherScan, ADMIN, ownerScan));
    expect(admin.diff.ports.closed.map((p: { port: number }) => p.port)).toEqual([2222]);
  });

  it('refuses a diff of a scan still running, of a scan with itself, and a malformed id, losing nothing', async () => {
    const { net, runner } = await newRunner();
    const token = await mintToken('scan', `history-bad-${net}`);
    const done = await finishedScan(runner, net, token, 'up');
    const from = runner.received.length;
    const res = await api('/v1/scans', {
      method: 'POST',
      token,
      json: { target: `127.${net}.0.1`, args: '-sT -p 22' },
    });
    const running = (await json(res)).scan.id;
    await runner.next((m) => m.type === 'job.dispatch', 5000, from);

    const early = await diffOf(running, token);
    expect(early.status).toBe(409);
    expect((await json(early)).error).toMatchObject({
      type: 'conflict',
      recoverySuggestion: expect.stringContaining('Wait'),
    });
    const self = await diffOf(done, token, done);
    expect(self.status).toBe(400);
    const malformed = await diffOf(done, token, 'not-a-scan');
    expect(malformed.status).toBe(400);
    expect((await json(malformed)).error.message).toContain('against');
    expect((await json(await api(`/v1/scans/${done}`, { token }))).scan.status).toBe('succeeded');
  });
});

describe('inventory through the API', () => {
  it("keeps each token's hosts and services, with state updated only by scans that probed them", async () => {
    const { net, runner } = await newRunner();
    const token = await mintToken('scan', `inventory-${net}`);
    const other = await mintToken('scan', `inventory-other-${net}`);
    const host = `127.${net}.0.1`;
    const inventory = async (query: string, as = token) => json(await api(`/v1/inventory?${query}`, { token: as }));

    const first = await finishedScan(runner, net, token, 'up');
    const oldSsh = await inventory(`cidr=127.${net}.0.0/16&service=ssh&versionBelow=8.0`);
    expect(oldSsh.services).toMatchObject([
      {
        address: host,
        port: 2222,
        protocol: 'tcp',
        state: 'open',
        product: 'OpenSSH',
        version: '7.4',
        lastScan: first,
      },
    ]);
    expect((await inventory(`cidr=127.${net}.0.0/16`, other)).services).toEqual([]);

    // A scan of other ports says nothing about 2222: still open, last probed by the first scan.
    await finishedScan(runner, net, token, 'otherPorts');
    expect((await inventory(`address=${host}&port=2222`)).services[0]).toMatchObject({
      state: 'open',
      lastProbedScan: first,
    });

    const second = await finishedScan(runner, net, token, 'down');
    expect((await inventory(`address=${host}&port=2222`)).services).toEqual([]);
    const any = (await inventory(`address=${host}&port=2222&state=any`)).services[0];
    expect(any).toMatchObject({ state: 'closed', lastScan: first, lastProbedScan: second });

    await finishedScan(runner, net, token, 'newBanner');
    expect((await inventory(`cidr=127.${net}.0.0/16&service=ssh&versionBelow=8.0`)).services).toEqual([]);
    const ssh = (await inventory(`cidr=127.${net}.0.0/16&product=openssh`)).services;
    expect(ssh.map((s: { version: string }) => s.version)).toEqual(['8.9p1 Ubuntu 3']);
    // First seen stays the first scan's time, while last seen moves.
    expect(Date.parse(ssh[0].firstSeen)).toBeLessThan(Date.parse(ssh[0].lastSeen));
    const adminView = await inventory(`cidr=127.${net}.0.0/16`, ADMIN);
    expect(adminView.services.map((s: { port: number }) => s.port)).toEqual([2222, 4430]);
    expect(
      (await inventory(`cidr=127.${net}.0.0/16&firstSeenAfter=${encodeURIComponent(new Date().toISOString())}`))
        .services,
    ).toEqual([]);
  });

  it('lists hosts; one a later scan looked for (host discovery on) and did not find is down, not forgotten', async () => {
    const { net, runner } = await newRunner();
    const token = await mintToken('scan', `inventory-hosts-${net}`);
    const host = `127.${net}.0.1`;
    const hosts = async (query: string) =>
      (await json(await api(`/v1/inventory/hosts?cidr=127.${net}.0.0/16&${query}`, { token }))).hosts;
    const first = await finishedScan(runner, net, token, 'up');
    expect(await hosts('')).toMatchObject([{ address: host, hostnames: ['localhost'], state: 'up', lastScan: first }]);
    // The same target under -Pn, the host missing from the report: nothing was looked for, nothing changes.
    const gone = (xml: string) => xml.replace(/<host [\s\S]*<\/host>/, '');
    await finishedScan(runner, net, token, 'down', gone);
    expect((await hosts(''))[0]).toMatchObject({ state: 'up', lastProbedScan: first });
    // With host discovery on (no -Pn in nmap's args), it was looked for and not found: down.
    const looked = await finishedScan(runner, net, token, 'down', (xml) => gone(xml).replaceAll(' -Pn', ''));
    expect(await hosts('')).toEqual([]);
    expect((await hosts('state=any'))[0]).toMatchObject({ state: 'down', lastScan: first, lastProbedScan: looked });
    const other = await mintToken('scan', `inventory-hosts-other-${net}`);
    expect(
      (await json(await api(`/v1/inventory/hosts?state=any&cidr=127.${net}.0.0/16`, { token: other }))).hosts,
    ).toEqual([]);
    expect((await api('/v1/inventory/hosts?cursor=zz', { token })).status).toBe(400);
  });

  it('a hostile runner cannot put hosts the scan did not target into the inventory, the diff or the changes', async () => {
    const { net, runner } = await newRunner();
    const token = await mintToken('scan', `inventory-forged-${net}`);
    const first = await finishedScan(runner, net, token, 'up');
    // The runner adds a host of another network, with ssh open, to the report of a scan of 127.<net>.0.1 only.
    const forged = await finishedScan(runner, net, token, 'up', (xml) => {
      const host = /<host [\s\S]*<\/host>/.exec(xml)![0];
      return xml.replace(host, `${host}\n${host.replaceAll(`127.${net}.0.1`, '10.9.9.9')}`);
    });
    const all = await json(await api('/v1/inventory?cidr=10.0.0.0/8&state=any', { token }));
    expect(all.services).toEqual([]);
    expect((await json(await api('/v1/inventory/hosts?cidr=10.0.0.0/8&state=any', { token }))).hosts).toEqual([]);
    const diff = await json(await diffOf(forged, token));
    expect(diff.base.id).toBe(first);
    expect(diff.diff.hosts.up).toEqual([]);
    expect(diff.summary).toBe(`Since ${first}: no changes.`);
    // What the scan did target is recorded as usual.
    const own = await json(await api(`/v1/inventory?address=127.${net}.0.1`, { token }));
    expect(own.services.map((s: { port: number }) => s.port)).toEqual([2222, 4430]);
  });

  it('pages with a cursor and refuses malformed filters with a fix', async () => {
    const { net, runner } = await newRunner();
    const token = await mintToken('scan', `inventory-page-${net}`);
    await finishedScan(runner, net, token, 'up');
    const page1 = await json(await api(`/v1/inventory?cidr=127.${net}.0.0/16&limit=1`, { token }));
    expect(page1.services.map((s: { port: number }) => s.port)).toEqual([2222]);
    const page2 = await json(
      await api(`/v1/inventory?cidr=127.${net}.0.0/16&limit=1&cursor=${encodeURIComponent(page1.nextCursor)}`, {
        token,
      }),
    );
    expect(page2.services.map((s: { port: number }) => s.port)).toEqual([4430]);
    for (const bad of ['cidr=10.0.0.0/33', 'address=lab', 'versionBelow=eight', 'cursor=x', 'limit=0', 'state=gone']) {
      const res = await api(`/v1/inventory?${bad}`, { token });
      expect(res.status, bad).toBe(400);
      const { error } = await json(res);
      expect(error.type).toBe('validation_error');
      expect(error.recoverySuggestion.length).toBeGreaterThan(0);
    }
  });

  it('forgets rows nobody has seen within the retention, in the alarm', async () => {
    const { net, runner } = await newRunner();
    const token = await mintToken('scan', `inventory-old-${net}`);
    await finishedScan(runner, net, token, 'up');
    const before = await json(await api(`/v1/inventory?address=127.${net}.0.1&state=any`, { token }));
    expect(before.services).toHaveLength(2);
    const stub = getCoordinator(env);
    await runInDurableObject(stub, (_c: Coordinator, state) => {
      const old = Date.now() - 181 * 86_400_000;
      state.storage.sql.exec('UPDATE inventory_services SET last_seen = ? WHERE address = ?', old, `127.${net}.0.1`);
    });
    await runDurableObjectAlarm(stub);
    const after = await json(await api(`/v1/inventory?address=127.${net}.0.1&state=any`, { token }));
    expect(after.services).toEqual([]);
  });
});

describe('exports', () => {
  it('exports the report as CSV, defusing spreadsheet formulas from banners, and as JSON', async () => {
    const { net, runner } = await newRunner();
    const token = await mintToken('scan', `export-${net}`);
    const id = await finishedScan(runner, net, token, 'up', (xml) =>
      xml.replace('product="OpenSSH"', 'product="=HYPERLINK(&quot;x&quot;)"'),
    );
    const csv = await api(`/v1/scans/${id}/export?format=csv`, { token });
    expect(csv.headers.get('content-type')).toContain('text/csv');
    const lines = (await csv.text()).trimEnd().split('\r\n');
    expect(lines[0]).toBe('host,port,proto,state,service,product,version');
    expect(lines).toContain(`127.${net}.0.1,2222,tcp,open,ssh,"'=HYPERLINK(""x"")",7.4`);
    expect(lines).toContain(`127.${net}.0.1,2221,tcp,closed,rockwell-csp1,,`);
    const exported = await json(await api(`/v1/scans/${id}/export?format=json`, { token }));
    expect(exported.report.hosts[0].ports.length).toBe(lines.length - 1);
    const other = await mintToken('scan', `export-other-${net}`);
    expect((await api(`/v1/scans/${id}/export?format=csv`, { token: other })).status).toBe(404);
    expect((await api(`/v1/scans/${id}/export?format=pdf`, { token })).status).toBe(400);
  });
});

describe('history on the dashboard', () => {
  it('shows the diff on the scan page, the change on the front page and the service in the inventory', async () => {
    const { net, runner } = await newRunner();
    const token = await mintToken('scan', `dash-history-${net}`);
    const first = await finishedScan(runner, net, token, 'up', (xml) =>
      xml.replace('product="OpenSSH"', 'product="&lt;script&gt;alert(1)&lt;/script&gt;"'),
    );
    const second = await finishedScan(runner, net, token, 'newBanner');
    const { cookie } = await dashboardLogin(ADMIN);

    const scanPage = await (await api(`/dashboard/scans/${second}`, { headers: { cookie } })).text();
    expect(scanPage).toContain('Changes since the previous scan');
    expect(scanPage).toContain(`Since ${first}: 1 service changed, 1 certificate changed.`);
    expect(scanPage).toContain('&lt;script&gt;alert(1)&lt;/script&gt; 7.4 → OpenSSH 8.9p1 Ubuntu 3');
    expect(scanPage).not.toContain('<script>alert(1)');
    const firstPage = await (await api(`/dashboard/scans/${first}`, { headers: { cookie } })).text();
    expect(firstPage).toContain('No earlier finished scan of the same targets');

    const front = await (await api('/dashboard', { headers: { cookie } })).text();
    expect(front).toMatch(new RegExp(`data-change="${second}"[^]*?1 service changed`));

    const found = await api(`/dashboard/inventory?cidr=127.${net}.0.0/16&service=ssh`, { headers: { cookie } });
    expect(found.status).toBe(200);
    const inventory = await found.text();
    expect(inventory).toContain(`127.${net}.0.1`);
    expect(inventory).toContain('OpenSSH 8.9p1 Ubuntu 3');
    const bad = await api('/dashboard/inventory?cidr=10.0.0.0/99', { headers: { cookie } });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('cidr: a CIDR network');
    expect((await api('/dashboard/inventory', { redirect: 'manual' })).status).toBe(303);
  });
});
