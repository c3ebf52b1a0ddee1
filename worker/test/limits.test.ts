import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { ADMIN, api, BASE, json, mintToken, runnersOnOwnNets } from './helpers/runner-client.ts';

/**
 * A scan token must not be able to store unbounded data: bodies are bounded at the Worker (413 in the taxonomy's
 * shape), every field by the shared request schema, and an audit row of a refused request keeps only a bounded
 * excerpt. Others keep working: the audit log still reads, another token's scan still goes out.
 */
const newRunner = runnersOnOwnNets('limits-runner', 140);

function postRaw(path: string, token: string, body: BodyInit, headers: Record<string, string> = {}) {
  return SELF.fetch(`${BASE}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers },
    body,
  });
}

describe('bounded request bodies', () => {
  it('refuses a body over 64 KiB with 413 and the error taxonomy, on every surface', async () => {
    const token = await mintToken('scan');
    const huge = JSON.stringify({ target: '10.0.0.5', args: `-p ${'1,'.repeat(40_000)}1` });
    for (const path of ['/v1/scans', '/v1/validate', '/mcp']) {
      const res = await postRaw(path, token, huge, { accept: 'application/json, text/event-stream' });
      expect(res.status, path).toBe(413);
      const body = await json(res);
      expect(body.error).toMatchObject({ type: 'payload_too_large', details: { maxBytes: 65536 } });
      expect(body.error.recoverySuggestion.length).toBeGreaterThan(10);
    }
  });

  it('refuses a streamed 8 MiB body without a length, and the audit log still reads', async () => {
    const token = await mintToken('scan');
    const chunk = new TextEncoder().encode(' '.repeat(64 * 1024));
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= 8 * 1024 * 1024) return controller.close();
        sent += chunk.length;
        controller.enqueue(chunk);
      },
    });
    const res = await postRaw('/v1/scans', token, stream);
    expect(res.status).toBe(413);
    expect((await json(res)).error.type).toBe('payload_too_large');
    expect((await api('/v1/audit?limit=5', { token: ADMIN })).status).toBe(200);
  });

  it('refuses a target item longer than any hostname before it is stored', async () => {
    const token = await mintToken('scan');
    const res = await api('/v1/scans', { method: 'POST', token, json: { target: `${'a'.repeat(300)}.lab.internal` } });
    expect(res.status).toBe(400);
    expect((await json(res)).error.type).toBe('validation_error');
  });

  it('keeps only a bounded excerpt of a refused request in the audit log, and others are unaffected', async () => {
    const { net } = await newRunner();
    const attacker = await mintToken('scan', `attacker-${net}`);
    // Inside the body limit, inside the schema, refused by policy (too many targets): the largest row one request makes.
    const targets = Array.from({ length: 200 }, (_, i) => `${'x'.repeat(240)}${i}.lab.internal`.slice(-250));
    const refused = await api('/v1/scans', {
      method: 'POST',
      token: attacker,
      json: { target: targets, args: Array.from({ length: 100 }, () => '-v') },
    });
    expect(refused.status).toBe(400);
    const audit = await json(await api('/v1/audit?limit=20', { token: ADMIN }));
    const row = audit.entries.find(
      (e: { actor: string; decision: string }) => e.actor === `attacker-${net}` && e.decision === 'refused',
    );
    expect(JSON.stringify(row.detail).length).toBeLessThan(8 * 1024);
    expect(row.detail.target).toHaveLength(17);
    expect(row.detail.target[16]).toBe('… (200 items)');
    // Another token's scan still goes out.
    const other = await mintToken('scan');
    const ok = await api('/v1/scans', {
      method: 'POST',
      token: other,
      json: { target: `127.${net}.0.1`, args: '-sT -p 22' },
    });
    expect(ok.status).toBe(202);
  });
});
