import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { XMLValidator } from 'fast-xml-parser';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseNmapXml } from '../../shared/nmap-xml/index.ts';
import { useBannerServer } from '../helpers/banner-server.ts';
import { useStack } from '../helpers/e2e.ts';

/**
 * nmap's XML from a real scan (real runner daemon, real nmap, real wrangler dev) reaches GET /v1/scans/:id/xml byte
 * for byte. To know what nmap wrote, the runner is given a wrapper as its nmap: it runs the real nmap with the
 * runner's arguments and then copies the -oX file nmap wrote (the runner deletes its own copy) into a directory of
 * this test. Nothing is faked: the wrapper's nmap is the one on PATH, its exit status is nmap's.
 */
const stack = useStack();
const banner = useBannerServer();
let token = '';
let keptDir = '';

function hasXmllint(): boolean {
  try {
    execFileSync('xmllint', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

beforeAll(async () => {
  keptDir = join(stack.dir, 'kept-xml');
  mkdirSync(keptDir);
  const wrapper = join(stack.dir, 'nmap-keeping-xml');
  writeFileSync(
    wrapper,
    `#!/bin/sh
# The real nmap, then a copy of the XML it wrote with -oX into ${keptDir} (named after the runner's job dir).
xml=""; prev=""
for a in "$@"; do [ "$prev" = "-oX" ] && xml="$a"; prev="$a"; done
nmap "$@"; rc=$?
[ -n "$xml" ] && [ -f "$xml" ] && cp "$xml" "${keptDir}/$(basename "$(dirname "$xml")").xml"
exit $rc
`,
  );
  chmodSync(wrapper, 0o755);
  await stack.readyRunner('e2e-xml', { nmap: wrapper });
  token = await stack.mintToken('scan', 'e2e-xml-user');
}, 60_000);

describe("nmap's XML, end to end", () => {
  it('is served by GET /v1/scans/:id/xml exactly as nmap wrote it, and is a well-formed nmap document', async () => {
    const res = await stack.api(token, 'POST', '/v1/scans', {
      target: '127.0.0.1',
      args: `-sT -sV -p ${banner.port()}`,
      wait: 60,
    });
    expect(res.status).toBe(202);
    expect(res.body.scan).toMatchObject({ status: 'succeeded', xml: { truncated: false } });
    const id = res.body.scan.id as string;

    const kept = readdirSync(keptDir).filter((f) => f.endsWith('.xml'));
    expect(kept).toHaveLength(1);
    const written = readFileSync(join(keptDir, kept[0]!));
    const served = await fetch(`${stack.url}/v1/scans/${id}/xml`, { headers: { authorization: `Bearer ${token}` } });
    expect(served.status).toBe(200);
    expect(served.headers.get('content-type')).toBe('application/xml');
    const bytes = Buffer.from(await served.arrayBuffer());
    expect(bytes.length).toBe(written.length);
    expect(bytes.equals(written)).toBe(true);
    expect(res.body.scan.xml.bytes).toBe(written.length);

    // Someone else's parser says it is well-formed XML (xmllint where installed; fast-xml-parser's validator always).
    const path = join(stack.dir, `${id}.xml`);
    writeFileSync(path, bytes);
    if (hasXmllint()) execFileSync('xmllint', ['--noout', '--nonet', path], { stdio: 'pipe' });
    else console.log('xmllint is not installed (Debian: libxml2-utils): checked with fast-xml-parser only');
    expect(XMLValidator.validate(bytes.toString('utf8'))).toBe(true);
    // And it is the scan's document: the report parsed from it is the report the scan has (but the names the runner
    // adds after the scan, of which this address has none).
    const parsed = parseNmapXml(bytes.toString('utf8'));
    expect(parsed.ok && parsed.report).toEqual(res.body.scan.report);
    expect(bytes.toString('utf8')).toMatch(
      new RegExp(`<port protocol="tcp" portid="${banner.port()}"><state state="open"`),
    );
  });
});
