import { env, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { getCoordinator, type Coordinator } from '../objects/coordinator.do.ts';
import { parseNmapXml, type Report } from '../../shared/nmap-xml/index.ts';
import {
  MAX_OUTPUT_CHUNK_BYTES,
  MAX_XML_BYTES,
  utf8ByteLength,
  type JobDispatch,
} from '../../shared/protocol/index.ts';
import { nmapXmlDocument } from '../../test/helpers/nmap-xml-doc.ts';
import { ADMIN, api, json, mintToken, runnersOnOwnNets, type TestRunner } from './helpers/runner-client.ts';

/**
 * nmap's XML as the runner sends it with a result (`xml` output frames, then `job.finished` declaring it), kept at
 * the edge and served by GET /v1/scans/:id/xml exactly as sent, to the scan's owner and its pool's admins only. A
 * hostile runner cannot store more than MAX_XML_BYTES, have a cut document pass as whole, or have the edge serve
 * something that is not the nmap document of the result it sent.
 */
const newRunner = runnersOnOwnNets('xml-runner', 190);

function documentFor(target: string, start = 1796024456): { xml: string; report: Report } {
  const xml = nmapXmlDocument({
    start,
    args: `nmap -sT -sV -p 22,80 -- ${target}`,
    hosts: [
      {
        addr: target,
        closed: 1,
        ports: [
          {
            port: 22,
            service: { name: 'ssh', product: 'OpenSSH', version: '9.2p1', cpe: 'cpe:/a:openbsd:openssh:9.2p1' },
          },
          {
            port: 80,
            service: { name: 'http', product: 'nginx' },
            scripts: [{ id: 'http-title', output: 'Lab <&> "wiki"' }],
          },
        ],
      },
    ],
  });
  const parsed = parseNmapXml(xml);
  if (!parsed.ok) throw new Error(parsed.problem);
  return { xml, report: parsed.report };
}

function chunks(text: string, size = MAX_OUTPUT_CHUNK_BYTES): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

async function scanOn(runner: TestRunner, net: number, token: string): Promise<string> {
  const from = runner.received.length;
  const res = await api('/v1/scans', { method: 'POST', token, json: { target: `127.${net}.0.1`, args: '-sT -p 22' } });
  expect(res.status).toBe(202);
  const dispatch = (await runner.next((m) => m.type === 'job.dispatch', 5000, from)) as JobDispatch;
  runner.send({ type: 'job.accepted', jobId: dispatch.jobId });
  return dispatch.jobId;
}

/** A runner's whole result: stdout, then the XML pieces (as given), then job.finished with `finished` laid over. */
async function finishWithXml(
  runner: TestRunner,
  jobId: string,
  pieces: string[],
  finished: Record<string, unknown>,
): Promise<void> {
  const stdout = 'Nmap scan report\n22/tcp open ssh\n';
  runner.send({ type: 'job.output', jobId, seq: 1, stream: 'stdout', data: stdout });
  pieces.forEach((data, i) => void runner.send({ type: 'job.output', jobId, seq: i + 2, stream: 'xml', data }));
  const lastSeq = pieces.length + 1;
  const from = runner.received.length;
  runner.send({
    type: 'job.finished',
    jobId,
    lastSeq,
    exitCode: 0,
    signal: null,
    timedOut: false,
    cancelled: false,
    durationMs: 900,
    truncated: { stdout: false, stderr: false },
    report: null,
    error: null,
    ...finished,
  } as never);
  await runner.next((m) => m.type === 'ack' && m.jobId === jobId && m.seq === lastSeq + 1, 15_000, from);
}

async function xmlOf(id: string, token: string): Promise<{ status: number; text: string; headers: Headers }> {
  const res = await api(`/v1/scans/${id}/xml`, { token });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

describe('GET /v1/scans/:id/xml', () => {
  it("serves nmap's document exactly as the runner sent it, as a download, and keeps it out of the output", async () => {
    const { net, runner } = await newRunner();
    // The edge says it takes XML, right after the welcome: runners send it only then.
    expect(await runner.next((m) => m.type === 'edge.features')).toEqual({ type: 'edge.features', features: ['xml'] });
    const owner = await mintToken('scan', `xml-owner-${net}`);
    const id = await scanOn(runner, net, owner);
    const { xml, report } = documentFor(`127.${net}.0.1`);
    await finishWithXml(runner, id, chunks(xml, 700), {
      report,
      xml: { bytes: utf8ByteLength(xml), truncated: false },
    });

    const got = await xmlOf(id, owner);
    expect(got.status).toBe(200);
    expect(got.text).toBe(xml);
    expect(got.headers.get('content-type')).toBe('application/xml');
    expect(got.headers.get('content-disposition')).toBe(`attachment; filename="${id}.xml"`);
    expect(got.headers.get('content-security-policy')).toBe("default-src 'none'; sandbox");
    expect(got.headers.get('x-content-type-options')).toBe('nosniff');
    expect(got.headers.get('x-scangate-xml-truncated')).toBe('false');
    expect(got.headers.get('x-scangate-xml-bytes')).toBe(String(utf8ByteLength(xml)));

    const scan = (await json(await api(`/v1/scans/${id}`, { token: owner }))).scan;
    expect(scan.xml).toEqual({ bytes: utf8ByteLength(xml), truncated: false });
    expect(scan.output).toBe('Nmap scan report\n22/tcp open ssh\n');
    expect(scan.outputBytes).toBe(utf8ByteLength(scan.output));
    const events = await (await api(`/v1/scans/${id}/events`, { token: owner })).text();
    expect(events).toContain('22/tcp open ssh');
    expect(events).not.toContain('nmaprun');

    // Its pool's admin reads it too.
    expect((await xmlOf(id, ADMIN)).text).toBe(xml);
  });

  it('is not found, with no bytes, for another token of the pool, a token of another pool, and an unknown id', async () => {
    const { net, runner } = await newRunner();
    const owner = await mintToken('scan', `xml-owner-${net}`);
    const id = await scanOn(runner, net, owner);
    const { xml, report } = documentFor(`127.${net}.0.1`);
    await finishWithXml(runner, id, [xml], { report, xml: { bytes: utf8ByteLength(xml), truncated: false } });

    const neighbour = await mintToken('scan', `xml-neighbour-${net}`);
    const elsewhere = await json(
      await api('/v1/tokens', {
        method: 'POST',
        token: ADMIN,
        json: { name: 'xml-other-pool', role: 'admin', pool: 'xml-other' },
      }),
    );
    const unknown = await xmlOf('scan_nosuchscan', neighbour);
    expect(unknown.status).toBe(404);
    for (const token of [neighbour, elsewhere.token as string]) {
      const got = await xmlOf(id, token);
      expect(got.status).toBe(404);
      expect(got.text).not.toContain('nmaprun');
      expect(JSON.parse(got.text).error).toEqual({ ...JSON.parse(unknown.text).error, message: `No scan ${id}` });
    }
    expect((await xmlOf(id, owner)).text).toBe(xml);
  });

  it('says why there is none: the scan is still running, or its runner is older and sent none', async () => {
    const { net, runner } = await newRunner();
    const owner = await mintToken('scan', `xml-owner-${net}`);
    const id = await scanOn(runner, net, owner);
    const running = await xmlOf(id, owner);
    expect(running.status).toBe(404);
    expect(JSON.parse(running.text).error).toMatchObject({
      type: 'not_found',
      message: `Scan ${id} is running: nmap's XML is kept when the scan ends`,
      recoverySuggestion: expect.stringMatching(/Wait for the scan to end/),
    });
    // A runner from before the field: no xml frames, no `xml` in its result. Its scan works as before.
    runner.finish(id, ['22/tcp open ssh\n'], { report: documentFor(`127.${net}.0.1`).report });
    await runner.next((m) => m.type === 'ack' && m.jobId === id && m.seq === 2);
    const old = await xmlOf(id, owner);
    expect(old.status).toBe(404);
    expect(JSON.parse(old.text).error).toMatchObject({
      type: 'not_found',
      message: expect.stringMatching(/its runner sent none/),
      recoverySuggestion: expect.stringMatching(/Update the runner/),
    });
    const scan = (await json(await api(`/v1/scans/${id}`, { token: owner }))).scan;
    expect(scan).toMatchObject({ status: 'succeeded', output: '22/tcp open ssh\n' });
    expect(scan.xml).toBeUndefined();
  });
});

describe('a hostile runner and the XML it sends', () => {
  it('cannot store more than MAX_XML_BYTES: the edge cuts it and flags it, whatever the runner says', async () => {
    const { net, runner } = await newRunner();
    const owner = await mintToken('scan', `xml-owner-${net}`);
    const id = await scanOn(runner, net, owner);
    const { xml, report } = documentFor(`127.${net}.0.1`);
    // 8 MiB and 192 KiB: the document's start, then padding in full frames, claimed whole and not truncated.
    const padding = Array.from({ length: MAX_XML_BYTES / MAX_OUTPUT_CHUNK_BYTES + 3 }, () =>
      ' '.repeat(MAX_OUTPUT_CHUNK_BYTES),
    );
    await finishWithXml(runner, id, [xml, ...padding], {
      report,
      xml: { bytes: MAX_XML_BYTES, truncated: false },
    });
    const got = await xmlOf(id, owner);
    expect(got.status).toBe(200);
    expect(utf8ByteLength(got.text)).toBe(MAX_XML_BYTES);
    expect(got.text.startsWith(xml)).toBe(true);
    expect(got.headers.get('x-scangate-xml-truncated')).toBe('true');
    const scan = (await json(await api(`/v1/scans/${id}`, { token: owner }))).scan;
    expect(scan).toMatchObject({ status: 'succeeded', xml: { bytes: MAX_XML_BYTES, truncated: true } });
    expect(scan.outputBytes).toBe(utf8ByteLength('Nmap scan report\n22/tcp open ssh\n'));
  });

  it('cannot have a document that is not the result it sent served: forged, mismatched or misdeclared XML is refused', async () => {
    const { net, runner } = await newRunner();
    const owner = await mintToken('scan', `xml-owner-${net}`);
    const target = `127.${net}.0.1`;
    const { xml, report } = documentFor(target);
    const page = '<html><body><script>fetch("/v1/tokens")</script></body></html>';
    const cases: Array<[string, string[], Record<string, unknown>, RegExp]> = [
      ['an HTML page', [page], { report, xml: { bytes: page.length, truncated: false } }, /does not start as an nmap/],
      [
        'the XML of another scan',
        [documentFor(target, 1700000000).xml],
        { report, xml: { bytes: utf8ByteLength(documentFor(target, 1700000000).xml), truncated: false } },
        /start time \(1700000000\) is not the report's/,
      ],
      [
        'a size it did not send',
        [xml],
        { report, xml: { bytes: utf8ByteLength(xml) + 5, truncated: false } },
        /declared/,
      ],
      ['XML it says nmap never wrote', [xml], { report, xml: null }, /declared that nmap wrote none/],
    ];
    for (const [what, pieces, finished, why] of cases) {
      const id = await scanOn(runner, net, owner);
      await finishWithXml(runner, id, pieces, finished);
      const got = await xmlOf(id, owner);
      expect(got.status, what).toBe(404);
      expect(got.text, what).not.toContain('<script>');
      expect(got.text, what).not.toContain('scanner="nmap"');
      expect(JSON.parse(got.text).error, what).toMatchObject({
        type: 'not_found',
        message: expect.stringMatching(why),
        recoverySuggestion: expect.stringMatching(/scangate-runner doctor/),
      });
      // The scan itself, its report and its output, are unaffected.
      const scan = (await json(await api(`/v1/scans/${id}`, { token: owner }))).scan;
      expect(scan, what).toMatchObject({ status: 'succeeded', output: 'Nmap scan report\n22/tcp open ssh\n' });
      expect(scan.report.hosts[0].ports).toHaveLength(2);
      // Nothing of it is kept: its rows stay (their seqs keep acks contiguous) but hold no bytes.
      await runInDurableObject(getCoordinator(env), (_coordinator: Coordinator, state) => {
        const kept = state.storage.sql
          .exec<{ rows: number; bytes: number }>(
            "SELECT COUNT(*) AS rows, SUM(length(json_extract(data, '$.data'))) AS bytes FROM job_events WHERE job_id = ? AND type = 'xml'",
            id,
          )
          .one();
        expect(kept, what).toEqual({ rows: pieces.length, bytes: 0 });
      });
    }
    const audit = await json(await api('/v1/audit?kind=scan&action=scan.xml', { token: ADMIN }));
    expect(JSON.stringify(audit)).toMatch(/does not start as an nmap/);
    expect(await (await api('/metrics', { token: ADMIN })).text()).toMatch(
      /scangate_xml_refused_total\{pool="default"\} [4-9]/,
    );
  });
});
