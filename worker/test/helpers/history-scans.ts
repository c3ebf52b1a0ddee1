import { expect } from 'vitest';
import { DIFF_XML, reportOf } from '../../domain/diff/fixtures.ts';
import { api, json, type TestRunner } from './runner-client.ts';

/**
 * A succeeded scan of `127.<net>.0.1` whose report is one of the real nmap XML fixtures of a loopback listener
 * (test/fixtures/nmap/diff), moved onto that address and sent by a test runner over its real WebSocket. `edit`
 * changes the XML first (a hostile banner, a missing host). Resolves with the scan id once it has succeeded.
 */
export async function finishedScan(
  runner: TestRunner,
  net: number,
  token: string,
  fixture: keyof typeof DIFF_XML,
  edit: (xml: string) => string = (x) => x,
): Promise<string> {
  const from = runner.received.length;
  const target = `127.${net}.0.1`;
  const res = await api('/v1/scans', { method: 'POST', token, json: { target, args: '-sT -sV -p 2220-2230,4430' } });
  expect(res.status).toBe(202);
  const dispatch = await runner.next((m) => m.type === 'job.dispatch', 5000, from);
  const jobId = (dispatch as { jobId: string }).jobId;
  runner.send({ type: 'job.accepted', jobId });
  runner.finish(jobId, ['done\n'], { report: reportOf(edit(DIFF_XML[fixture].replaceAll('127.0.0.1', target))) });
  for (;;) {
    const scan = (await json(await api(`/v1/scans/${jobId}?wait=1`, { token }))).scan;
    if (scan.status === 'succeeded') return jobId;
    expect(scan.status).not.toBe('failed');
  }
}
