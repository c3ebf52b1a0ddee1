/**
 * The history tools (untitled: tools/list is measured, and their names read as titles): diff_scans (what changed between two scans), find_services (the inventory), and, for admin
 * tokens only, list_schedules. No outputSchema: their text is what an agent reads, bounded like a scan result, and
 * tools/list stays small (it is measured). Tenancy is the Coordinator's: a scan token sees its own scans and what
 * they found.
 */
import type { McpServer, RegisteredTool } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { SCAN_ID_PATTERN } from '../../../shared/scan/index.ts';
import type { Principal } from '../../domain/principal.ts';
import type { Coordinator } from '../../objects/coordinator.do.ts';
import { diffRows, flappingPlaces, notCheckedPlaces } from '../../domain/diff/index.ts';
import type { ScanDiffView } from '../../objects/coordinator/history.ts';
import type { InventoryService } from '../../storage/inventory.store.ts';
import { InventoryQuery, toStoreQuery } from '../routes/inventory-query.ts';
import { errorToolResult, type ToolResult } from './results.ts';
import { MAX_SUMMARY_CHARS } from './scan-view.ts';

type Stub = DurableObjectStub<Coordinator>;
const SCAN_ID = z.string().regex(SCAN_ID_PATTERN);
const MAX_LINES = 30;

/** Lines joined while they fit the budget, then a count of the rest. */
function bounded(head: string[], lines: string[], budget = MAX_SUMMARY_CHARS): string {
  const out = [...head];
  let used = head.reduce((n, l) => n + l.length + 1, 0) + 40;
  let shown = 0;
  for (const line of lines.slice(0, MAX_LINES)) {
    const cut = line.length > 200 ? `${line.slice(0, 199)}…` : line;
    if (used + cut.length + 1 > budget) break;
    out.push(cut);
    used += cut.length + 1;
    shown++;
  }
  if (shown < lines.length) out.push(`…and ${lines.length - shown} more.`);
  return out.join('\n');
}

export function diffText(view: ScanDiffView): string {
  const { diff, base } = view;
  if (!diff || !base) return `${view.head.id}: ${view.summary} Name an earlier scan as against to compare with it.`;
  const lines = diffRows(diff).map((r) => `- ${r.kind} ${r.where}: ${r.what}`);
  const notChecked = notCheckedPlaces(diff).length;
  const flapping = flappingPlaces(diff).length;
  const quiet = [
    notChecked ? `Not checked (${view.head.id} did not probe them, so not called closed): ${notChecked}.` : '',
    flapping ? `UDP open|filtered flapping, usually not a change: ${flapping}.` : '',
  ].filter(Boolean);
  return bounded([`${view.head.id} compared with ${base.id}. ${view.summary}`], [...lines, ...quiet]);
}

export function servicesText(services: InventoryService[], nextCursor: string | null): string {
  if (services.length === 0)
    return 'No matching services in the inventory (it holds what your finished scans saw open).';
  const lines = services.map(
    (s) =>
      `- ${s.address} ${s.port}/${s.protocol} ${[s.service, s.product, s.version].filter(Boolean).join(' ')}${s.state === 'open' ? '' : ` (${s.state} when last probed)`}; first seen ${s.firstSeen.slice(0, 10)}, last seen ${s.lastSeen.slice(0, 10)}`,
  );
  const more = nextCursor ? ['More match: narrow the filter (cidr, port, service, product).'] : [];
  return bounded([`${services.length} service${services.length === 1 ? '' : 's'}:`], [...lines, ...more]);
}

const text = (t: string): ToolResult => ({ content: [{ type: 'text', text: t }] });

export function registerHistoryTools(
  server: McpServer,
  coordinator: Stub,
  principal: Principal,
  registered: Record<string, RegisteredTool>,
): void {
  registered.diff_scans = server.registerTool(
    'diff_scans',
    {
      description: 'Changes since the last scan of these targets (or against); unprobed ports never count as closed.',
      inputSchema: { scanId: SCAN_ID, against: SCAN_ID.optional() },
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async ({ scanId, against }) => {
      const diffed = await coordinator.diffScan(principal, scanId, against);
      return diffed.ok ? text(diffText(diffed.value)) : errorToolResult(diffed.error);
    },
  );

  const filters = InventoryQuery.pick({
    cidr: true,
    port: true,
    service: true,
    product: true,
    versionBelow: true,
    cursor: true,
  });
  registered.find_services = server.registerTool(
    'find_services',
    {
      description: 'Services seen open, e.g. service "ssh", versionBelow "8.0".',
      inputSchema: {
        ...filters.shape,
        limit: z.number().int().min(1).max(100).optional(),
      },
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async (input) => {
      const query = toStoreQuery({ ...InventoryQuery.parse({}), ...input, limit: input.limit ?? 50 });
      const found = await coordinator.inventory(principal, query);
      return text(servicesText(found.services, found.nextCursor));
    },
  );

  if (principal.role !== 'admin') return;
  registered.list_schedules = server.registerTool(
    'list_schedules',
    {
      description: 'Schedules: state, next and last run.',
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async () => {
      const schedules = await coordinator.listSchedules();
      if (schedules.length === 0) return text('No schedules in this pool.');
      return text(
        bounded(
          [`${schedules.length} schedule${schedules.length === 1 ? '' : 's'}:`],
          schedules.map(
            (s) =>
              `- ${s.name} (${s.state}${s.pausedReason ? `: ${s.pausedReason}` : ''}): ${[s.scan.target].flat().join(', ')} ${s.cron ? `cron "${s.cron}" ${s.timeZone}` : `every ${s.intervalSec} s`}; next ${s.nextRunAt ?? 'none'}; last ${s.lastScanId ? `${s.lastScanId} (${s.lastOutcome})` : 'never'}`,
          ),
        ),
      );
    },
  );
}

/** Tools only admins are given: for anyone else they do not exist (a call is an unknown tool). */
export const ADMIN_TOOL_NAMES = ['list_schedules'] as const;
