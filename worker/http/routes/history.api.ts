import { Hono } from 'hono';
import { z } from 'zod';
import { scanError, ScangateError } from '../../../shared/errors/index.ts';
import { SCAN_ID_PATTERN } from '../../../shared/scan/index.ts';
import { reportCsv } from '../../domain/report-csv.ts';
import { unwrap } from '../../domain/result.ts';
import { getCoordinator } from '../../objects/coordinator.do.ts';
import { requireRole, type AppEnv } from '../auth.ts';
import { InventoryHostsQuery, InventoryQuery, toStoreQuery } from './inventory-query.ts';
import { valid } from './validators.ts';

const IdParam = z.object({ id: z.string().regex(SCAN_ID_PATTERN, 'a scan id (scan_…)') });
const DiffQuery = z.object({ against: z.string().regex(SCAN_ID_PATTERN, 'a scan id (scan_…)').optional() });
const ExportQuery = z.object({ format: z.enum(['json', 'csv']).default('json') });

/**
 * Scan history: what changed (`GET /v1/scans/:id/diff`), the pool's inventory (`GET /v1/inventory`), and a scan's
 * report in formats other tools read (`GET /v1/scans/:id/export?format=json|csv`). Tenancy is the Coordinator's: a
 * scan token sees its own scans and what they found, an admin its pool.
 */
export const historyApi = new Hono<AppEnv>()
  .get('/v1/scans/:id/diff', requireRole('scan'), valid('param', IdParam), valid('query', DiffQuery), async (c) => {
    const { id } = c.req.valid('param');
    const { against } = c.req.valid('query');
    return c.json(unwrap(await getCoordinator(c.env, c.var.principal.pool).diffScan(c.var.principal, id, against)));
  })
  .get('/v1/scans/:id/export', requireRole('scan'), valid('param', IdParam), valid('query', ExportQuery), async (c) => {
    const { id } = c.req.valid('param');
    const scan = unwrap(
      await getCoordinator(c.env, c.var.principal.pool).getScan(c.var.principal, id, { outputTailBytes: 0 }),
    );
    if (!scan.report) {
      throw new ScangateError(
        scanError(
          'conflict',
          `Scan ${id} is ${scan.status} and has no report yet`,
          'Wait for the scan to finish; a scan that failed before nmap wrote anything has none.',
          { details: { scanId: id, status: scan.status } },
        ),
      );
    }
    const name = `${id}.${c.req.valid('query').format}`;
    const disposition = `attachment; filename="${name}"`;
    if (c.req.valid('query').format === 'csv') {
      return c.body(reportCsv(scan.report), 200, {
        'content-type': 'text/csv; charset=utf-8',
        'content-disposition': disposition,
      });
    }
    return c.json({ scanId: id, targets: scan.targets, argv: scan.argv, report: scan.report }, 200, {
      'content-disposition': disposition,
    });
  })
  .get('/v1/inventory', requireRole('scan'), valid('query', InventoryQuery), async (c) => {
    return c.json(
      await getCoordinator(c.env, c.var.principal.pool).inventory(c.var.principal, toStoreQuery(c.req.valid('query'))),
    );
  })
  .get('/v1/inventory/hosts', requireRole('scan'), valid('query', InventoryHostsQuery), async (c) => {
    const { firstSeenAfter, ...q } = c.req.valid('query');
    return c.json(
      await getCoordinator(c.env, c.var.principal.pool).inventoryHosts(c.var.principal, {
        ...q,
        ...(firstSeenAfter && { firstSeenAfter: Date.parse(firstSeenAfter) }),
      }),
    );
  });
