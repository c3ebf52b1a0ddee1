/** The Worker the diff bench loads into workerd: `?n=N` diffs the two /24 scans N times (and serialises each). */
import { diffScans } from '../worker/domain/diff/index.ts';
import { BASE, HEAD } from './diff-fixture.ts';

export default {
  fetch(request: Request): Response {
    const n = Number(new URL(request.url).searchParams.get('n') ?? 0);
    let bytes = 0;
    let changes = 0;
    for (let i = 0; i < n; i++) {
      const diff = diffScans(BASE, HEAD);
      bytes = JSON.stringify(diff).length;
      changes = diff.ports.opened.length + diff.ports.closed.length + diff.services.length;
    }
    return Response.json({ n, bytes, changes });
  },
};
