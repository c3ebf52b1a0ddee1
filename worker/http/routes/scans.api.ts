import { Hono } from 'hono';
import { z } from 'zod';
import { ScangateError } from '../../../shared/errors/index.ts';
import { CATALOG_RELEASES, catalogView } from '../../../shared/policy/index.ts';
import { ScanArgsSchema, ScanTargetSchema } from '../../../shared/policy/request.ts';
import { SCAN_ID_PATTERN, SCAN_STATUSES, type Scan } from '../../../shared/scan/index.ts';
import { requireRole, type AppEnv } from '../auth.ts';
import { getCoordinator } from '../../objects/coordinator.do.ts';
import { unwrap, type Result } from '../../domain/result.ts';
import { valid } from './validators.ts';

const ScanBody = z.strictObject({
  target: ScanTargetSchema,
  args: ScanArgsSchema.optional(),
  template: z.string().max(32).optional(),
  timeoutSec: z.number().int().min(1).max(3600).optional(),
  /** Wait up to this long for the scan to end before answering (the answer is then the finished scan). */
  wait: z.number().int().min(0).max(60).optional(),
});

const ListQuery = z.object({
  status: z.enum(SCAN_STATUSES).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z
    .string()
    .regex(/^\d+\.[A-Za-z0-9_-]+$/)
    .optional(),
  mine: z.enum(['true', 'false']).optional(),
});

const ScriptsQuery = z.object({
  allowed: z.enum(['true', 'false']).optional(),
  category: z
    .string()
    .regex(/^[a-z]{1,16}$/)
    .optional(),
});

const IdParam = z.object({ id: z.string().regex(SCAN_ID_PATTERN, 'a scan id (scan_…)') });

/** POST /v1/validate, /v1/scans and the scan resources. */
export const scansApi = new Hono<AppEnv>()
  .post('/v1/validate', requireRole('scan'), valid('json', ScanBody), async (c) => {
    const { wait: _wait, timeoutSec: _t, ...body } = c.req.valid('json');
    const result = unwrap(await getCoordinator(c.env, c.var.principal.pool).validate(body));
    return c.json({ valid: true, ...result });
  })
  .get('/v1/scripts', requireRole('scan'), valid('query', ScriptsQuery), async (c) => {
    // The script catalog under this pool's policy: what --script may name, each script's class, why, and arguments.
    const q = c.req.valid('query');
    const policy = await getCoordinator(c.env, c.var.principal.pool).getPolicy();
    const scripts = catalogView(policy.allowIntrusive, {
      allowedOnly: q.allowed === 'true',
      ...(q.category && { category: q.category }),
    });
    return c.json({
      nmapReleases: [CATALOG_RELEASES[0], CATALOG_RELEASES.at(-1)],
      allowIntrusive: policy.allowIntrusive,
      scripts,
    });
  })
  .post('/v1/scans', requireRole('scan'), valid('json', ScanBody), async (c) => {
    const { wait, ...body } = c.req.valid('json');
    const key = c.req.header('idempotency-key');
    if (key !== undefined && !/^[\x21-\x7e]{1,128}$/.test(key)) {
      throw new ScangateError({
        type: 'validation_error',
        message: 'Idempotency-Key must be 1–128 printable characters',
        recoverySuggestion: 'Use a UUID.',
      });
    }
    const { scan, created } = unwrap(
      await getCoordinator(c.env, c.var.principal.pool).createScan(c.var.principal, body, {
        ...(key && { idempotencyKey: key }),
        ...(wait && { waitSec: wait }),
      }),
    );
    c.header('Location', `/v1/scans/${scan.id}`);
    return c.json({ scan }, created ? 202 : 200);
  })
  .get('/v1/scans', requireRole('scan'), valid('query', ListQuery), async (c) => {
    const q = c.req.valid('query');
    return c.json(
      await getCoordinator(c.env, c.var.principal.pool).listScans(c.var.principal, {
        limit: q.limit,
        ...(q.status && { status: q.status }),
        ...(q.cursor && { cursor: q.cursor }),
        mine: q.mine === 'true',
      }),
    );
  })
  .get('/v1/scans/:id', requireRole('scan'), valid('param', IdParam), async (c) => {
    const coordinator = getCoordinator(c.env, c.var.principal.pool);
    const {
      output: _tail,
      outputOmittedBytes: _omitted,
      ...scan
    } = unwrap(await coordinator.getScan(c.var.principal, c.req.valid('param').id, { outputTailBytes: 0 }));
    // The output can be as large as the policy allows (20 MiB at most): it is read in pages and streamed as the
    // JSON string it would have been, so no single read has to fit an RPC.
    return c.body(
      scanJsonWithOutput(scan, (afterSeq) => coordinator.readOutput(c.var.principal, scan.id, afterSeq)),
      200,
      { 'content-type': 'application/json' },
    );
  })
  .get('/v1/scans/:id/xml', requireRole('scan'), valid('param', IdParam), async (c) => {
    // nmap's XML exactly as the runner sent it (as nmap wrote it, cut at MAX_XML_BYTES). It comes from a runner
    // and the scanned network, so it is served as a download that no browser renders or runs.
    const coordinator = getCoordinator(c.env, c.var.principal.pool);
    const { id } = c.req.valid('param');
    const first = unwrap(await coordinator.readXml(c.var.principal, id, 0));
    return c.body(
      textPages(first, async (afterSeq) => unwrap(await coordinator.readXml(c.var.principal, id, afterSeq))),
      200,
      {
        'content-type': 'application/xml',
        'content-disposition': `attachment; filename="${id}.xml"`,
        'content-security-policy': "default-src 'none'; sandbox",
        'x-scangate-xml-bytes': String(first.bytes),
        'x-scangate-xml-truncated': String(first.truncated),
      },
    );
  })
  .get('/v1/scans/:id/events', requireRole('scan'), valid('param', IdParam), async (c) => {
    const { id } = c.req.valid('param');
    const coordinator = getCoordinator(c.env, c.var.principal.pool);
    unwrap(await coordinator.getScan(c.var.principal, id));
    const lastEventId = c.req.header('last-event-id') ?? c.req.query('lastEventId') ?? '0';
    const stream = await coordinator.fetch(
      new Request(`https://coordinator/events/${id}`, {
        headers: {
          'last-event-id': /^\d+$/.test(lastEventId) ? lastEventId : '0',
          'x-token-id': c.var.principal.tokenId,
        },
      }),
    );
    // A Durable Object's response has immutable headers; re-wrap it so middleware can add its own.
    return new Response(stream.body, { status: stream.status, headers: new Headers(stream.headers) });
  })
  .post('/v1/scans/:id/cancel', requireRole('scan'), valid('param', IdParam), async (c) => {
    return c.json({
      scan: unwrap(
        await getCoordinator(c.env, c.var.principal.pool).cancelScan(c.var.principal, c.req.valid('param').id),
      ),
    });
  });

/**
 * `{"scan": {...scan, "output": "…"}}`, with the output string streamed page by page. Each page is escaped on its
 * own: JSON escapes concatenate to the escape of the concatenation (a surrogate pair split across pages becomes two
 * escapes that parse back to the pair).
 */
function scanJsonWithOutput(
  scan: Scan,
  readPage: (afterSeq: number) => Promise<Result<{ data: string; nextSeq: number | null }>>,
): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let next: number | null = 0;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(encoder.encode(`${JSON.stringify({ scan }).slice(0, -2)},"output":"`));
    },
    async pull(controller) {
      if (next === null) {
        controller.enqueue(encoder.encode('"}}'));
        controller.close();
        return;
      }
      const page = unwrap(await readPage(next));
      controller.enqueue(encoder.encode(JSON.stringify(page.data).slice(1, -1)));
      next = page.nextSeq;
    },
  });
}

/** Text read in pages (the first one already read), as UTF-8 bytes. */
function textPages(
  first: { data: string; nextSeq: number | null },
  readPage: (afterSeq: number) => Promise<{ data: string; nextSeq: number | null }>,
): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let page: { data: string; nextSeq: number | null } | null = first;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (page === null) {
        controller.close();
        return;
      }
      const { data, nextSeq } = page;
      // Pages end on whole frames, and no frame splits a character: each page encodes on its own.
      if (data.length > 0) controller.enqueue(encoder.encode(data));
      page = nextSeq === null ? null : await readPage(nextSeq);
    },
  });
}
