import { SELF } from 'cloudflare:test';
import {
  Client as ClientV2,
  ResourceNotFoundError,
  StreamableHTTPClientTransport as TransportV2,
} from '@modelcontextprotocol/client';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { CfWorkerJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/cfworker';
import { describe, expect, it, onTestFinished } from 'vitest';
import { parseNmapXml } from '../../../shared/nmap-xml/index.ts';
import { utf8ByteLength, type EdgeMessage, type JobDispatch } from '../../../shared/protocol/index.ts';
import { nmapXmlDocument } from '../../../test/helpers/nmap-xml-doc.ts';
import { ADMIN, api, BASE, json, mintToken, runnersOnOwnNets } from '../../test/helpers/runner-client.ts';
import { RESOURCE_NOT_FOUND } from './scan.resources.ts';

/**
 * A scan's raw output and nmap XML as MCP resources, read with the official SDK client against the real Worker:
 * linked from the tool result, readable by the token that started the scan and its pool's admins, and "not found"
 * with no bytes for anyone else: another scan token of the same pool, a token of another pool. The v2 client
 * (@modelcontextprotocol/client) reads them too and knows the refusal for a missing resource.
 */
async function connect(token: string): Promise<Client> {
  const transport = new StreamableHTTPClientTransport(new URL(`${BASE}/mcp`), {
    fetch: (url, init) => SELF.fetch(url, init),
    requestInit: { headers: { authorization: `Bearer ${token}` } },
  });
  const client = new Client(
    { name: 'scangate-resources-test', version: '1.0.0' },
    { jsonSchemaValidator: new CfWorkerJsonSchemaValidator() },
  );
  await client.connect(transport);
  onTestFinished(() => client.close());
  await client.listTools();
  return client;
}

const newRunner = runnersOnOwnNets('mcp-res-runner', 128);
const isDispatch = (m: EdgeMessage): m is JobDispatch => m.type === 'job.dispatch';
const OUTPUT = 'Starting Nmap 7.93\nPORT   STATE SERVICE VERSION\n22/tcp open  ssh     OpenSSH 9.2p1\n';

/** A scan started with nmap_scan by a fresh token, run to its end by the test runner with output and XML. */
async function finishedScan() {
  const { net, runner } = await newRunner();
  const token = await mintToken('scan', `res-owner-${net}`);
  const client = await connect(token);
  const target = `127.${net}.0.1`;
  const call = client.callTool({ name: 'nmap_scan', arguments: { target, args: '-sT -sV -p 22' } });
  const dispatch = await runner.next(isDispatch);
  const id = dispatch.jobId;
  const xml = nmapXmlDocument({
    start: 1796024456,
    args: `nmap -sT -sV -p 22 -- ${target}`,
    hosts: [{ addr: target, ports: [{ port: 22, service: { name: 'ssh', product: 'OpenSSH', version: '9.2p1' } }] }],
  });
  const parsed = parseNmapXml(xml);
  if (!parsed.ok) throw new Error(parsed.problem);
  runner.send({ type: 'job.accepted', jobId: id });
  runner.send({ type: 'job.output', jobId: id, seq: 1, stream: 'stdout', data: OUTPUT });
  runner.send({ type: 'job.output', jobId: id, seq: 2, stream: 'xml', data: xml.slice(0, 500) });
  runner.send({ type: 'job.output', jobId: id, seq: 3, stream: 'xml', data: xml.slice(500) });
  runner.finish(id, [], {
    lastSeq: 3,
    report: parsed.report,
    xml: { bytes: utf8ByteLength(xml), truncated: false },
  });
  const result = await call;
  return { net, runner, token, client, id, xml, result };
}

async function refusal(read: Promise<unknown>): Promise<McpError> {
  const error = await read.then(
    (value) => {
      throw new Error(`read a resource it should not have: ${JSON.stringify(value).slice(0, 200)}`);
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(McpError);
  return error as McpError;
}

describe('scan resources over MCP', () => {
  it('links the output and the XML from the result, and reads them back exactly', async () => {
    const { client, id, xml, result } = await finishedScan();
    const links = (result.content as Array<Record<string, unknown>>).filter((c) => c.type === 'resource_link');
    expect(links).toEqual([
      expect.objectContaining({ uri: `scangate://scans/${id}/output`, mimeType: 'text/plain', size: OUTPUT.length }),
      expect.objectContaining({ uri: `scangate://scans/${id}/xml`, mimeType: 'application/xml', size: xml.length }),
    ]);
    const output = await client.readResource({ uri: `scangate://scans/${id}/output` });
    expect(output.contents).toEqual([{ uri: `scangate://scans/${id}/output`, mimeType: 'text/plain', text: OUTPUT }]);
    const doc = await client.readResource({ uri: `scangate://scans/${id}/xml` });
    expect(doc.contents).toEqual([{ uri: `scangate://scans/${id}/xml`, mimeType: 'application/xml', text: xml }]);

    // get_scan links them too; the templates and the caller's scans are listed.
    const got = await client.callTool({ name: 'get_scan', arguments: { scanId: id } });
    expect((got.content as Array<{ type: string }>).map((c) => c.type)).toEqual([
      'text',
      'resource_link',
      'resource_link',
    ]);
    const templates = await client.listResourceTemplates();
    expect(templates.resourceTemplates.map((t) => t.uriTemplate).sort()).toEqual([
      'scangate://scans/{scanId}/output',
      'scangate://scans/{scanId}/xml',
    ]);
    const listed = await client.listResources();
    expect(listed.resources.map((r) => r.uri)).toEqual([`scangate://scans/${id}/output`, `scangate://scans/${id}/xml`]);
  });

  it('gives another token of the pool, a token of another pool and an unknown id the same not-found, and no bytes', async () => {
    const { id, net, client } = await finishedScan();
    const neighbour = await connect(await mintToken('scan', `res-neighbour-${net}`));
    const minted = await json(
      await api('/v1/tokens', {
        method: 'POST',
        token: ADMIN,
        json: { name: `res-elsewhere-${net}`, role: 'scan', pool: 'res-other' },
      }),
    );
    const elsewhere = await connect(minted.token);
    const unknown = await refusal(neighbour.readResource({ uri: 'scangate://scans/scan_nosuchscan/xml' }));
    expect(unknown.code).toBe(RESOURCE_NOT_FOUND);
    for (const [who, other] of [
      ['same pool', neighbour],
      ['other pool', elsewhere],
    ] as const) {
      for (const kind of ['output', 'xml']) {
        const uri = `scangate://scans/${id}/${kind}`;
        const error = await refusal(other.readResource({ uri }));
        expect(error.code, who).toBe(RESOURCE_NOT_FOUND);
        expect(error.message, who).toBe(
          `MCP error -32602: Resource ${uri} not found: No scan ${id}. What to do: List your scans with the list_scans tool.`,
        );
        expect(error.data, who).toEqual({ uri });
      }
      expect((await other.listResources()).resources, who).toEqual([]);
    }
    // The owner still reads, and so does its pool's admin.
    expect((await client.readResource({ uri: `scangate://scans/${id}/xml` })).contents).toHaveLength(1);
    const admin = await connect(ADMIN);
    const read = await admin.readResource({ uri: `scangate://scans/${id}/output` });
    expect(read.contents[0]).toMatchObject({ text: OUTPUT });
  });

  it('reads the same with the v2 client (@modelcontextprotocol/client), which refuses another token alike', async () => {
    const { id, xml, net } = await finishedScan();
    const connectV2 = async (token: string) => {
      const client = new ClientV2({ name: 'scangate-resources-v2', version: '1.0.0' });
      await client.connect(
        new TransportV2(new URL(`${BASE}/mcp`), {
          fetch: (url, init) => SELF.fetch(url, init),
          requestInit: { headers: { authorization: `Bearer ${token}` } },
        }),
      );
      onTestFinished(() => client.close());
      return client;
    };
    const owner = await connectV2(
      (
        await json(
          await api('/v1/tokens', {
            method: 'POST',
            token: ADMIN,
            json: { name: `res-v2-admin-${net}`, role: 'admin' },
          }),
        )
      ).token,
    );
    const read = await owner.readResource({ uri: `scangate://scans/${id}/xml` });
    expect(read.contents[0]).toMatchObject({ mimeType: 'application/xml', text: xml });
    const got = await owner.callTool({ name: 'get_scan', arguments: { scanId: id } });
    expect(
      (got.content as Array<{ type: string; uri?: string }>)
        .filter((c) => c.type === 'resource_link')
        .map((c) => c.uri),
    ).toEqual([`scangate://scans/${id}/output`, `scangate://scans/${id}/xml`]);
    const stranger = await connectV2(await mintToken('scan', `res-v2-stranger-${net}`));
    const refused = await stranger.readResource({ uri: `scangate://scans/${id}/xml` }).then(
      () => undefined,
      (e: unknown) => e,
    );
    // The v2 client recognises the answer as a missing resource (its own error class), with our message.
    expect(refused).toBeInstanceOf(ResourceNotFoundError);
    expect((refused as Error).message).toMatch(`No scan ${id}`);
  });

  it('says why a scan has no XML yet, and refuses what is not a scan id', async () => {
    const { net, runner } = await newRunner();
    const client = await connect(await mintToken('scan', `res-waiting-${net}`));
    const call = client.callTool({ name: 'nmap_scan', arguments: { target: `127.${net}.0.1`, args: '-sT -p 22' } });
    const dispatch = await runner.next(isDispatch);
    runner.send({ type: 'job.accepted', jobId: dispatch.jobId });
    const running = await refusal(client.readResource({ uri: `scangate://scans/${dispatch.jobId}/xml` }));
    expect(running.code).toBe(RESOURCE_NOT_FOUND);
    expect(running.message).toMatch(/is (?:running|dispatched): nmap's XML is kept when the scan ends/);
    const odd = await refusal(client.readResource({ uri: 'scangate://scans/..%2Fpolicy/xml' }));
    expect(odd.code).toBe(RESOURCE_NOT_FOUND);
    runner.finish(dispatch.jobId, []);
    await call;
  });
});
