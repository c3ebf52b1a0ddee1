/**
 * The MCP tools (nmap_scan, validate_scan, get_scan, list_scans, cancel_scan, scanner_info, list_templates): their
 * schemas, descriptions and handlers. Longer than ~300 lines because the descriptions are what an agent reads to
 * use them well; the result shapes and wording live apart (results.ts, wording.ts, tool-list.ts).
 */
import { McpServer, type RegisteredTool } from '@modelcontextprotocol/sdk/server/mcp.js';
import { ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { CfWorkerJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/cfworker';
import { z } from 'zod';
import { ScanArgsSchema, ScanTargetSchema } from '../../../shared/policy/request.ts';
import {
  CATALOG_RELEASES,
  catalogView,
  TEMPLATE_DESCRIPTIONS,
  TEMPLATE_NAMES,
  TEMPLATES,
  type Policy,
} from '../../../shared/policy/index.ts';
import type { Principal } from '../auth.ts';
import type { Coordinator } from '../../objects/coordinator.do.ts';
import { runnerSummary } from '../../domain/runner-view.ts';
import { isTerminal, SCAN_ID_PATTERN } from '../../../shared/scan/index.ts';
import { errorToolResult, MAX_PAGE_HOSTS, scanToolResult, ScanResultShape, type ToolResult } from './results.ts';
import { registerScanResources } from './scan.resources.ts';
import { CoordinatorTaskStore } from './task-store.ts';
import { listedTool } from './tool-list.ts';

/**
 * The MCP tools. `nmap_scan` goes through exactly the Coordinator call `POST /v1/scans` uses. Descriptions are
 * written to teach an agent the request shapes in few tokens.
 */
const TARGET = ScanTargetSchema.describe(
  'IP, CIDR (10.0.0.0/24) or *.lab.internal name, or a list. Lab networks only; one address family.',
);
const ARGS = ScanArgsSchema.optional().describe(
  'nmap options, exact spellings, e.g. "-sT -sV -p 22,80". No targets, output or file options. -sS/-sU/-O need a privileged runner; -A and intrusive scripts need the policy to allow them.',
);
const TEMPLATE = z
  .enum(TEMPLATE_NAMES as [string, ...string[]])
  .optional()
  .describe("Preset (list_templates shows each one's options); args add to or override it.");
/** The policy fields an agent plans by (scanner_info). */
const PolicyShape = z.object({
  allowedNetworks: z.array(z.string()),
  allowedHostSuffixes: z.array(z.string()),
  maxHosts: z.number(),
  allowIntrusive: z.boolean(),
  allowEvasion: z.boolean(),
  requireFence: z.boolean(),
});
const SCAN_ID = z.string().regex(SCAN_ID_PATTERN).describe('From nmap_scan or list_scans.');

const ScanInput = {
  target: TARGET,
  template: TEMPLATE,
  args: ARGS,
  timeoutSec: z
    .number()
    .int()
    .min(1)
    .max(3600)
    .optional()
    .describe('Seconds before the scan is stopped (default 600).'),
};

type Stub = DurableObjectStub<Coordinator>;

/** Every tool this server registers (the endpoint answers calls to any other name with a protocol error). */
export const TOOL_NAMES = [
  'nmap_scan',
  'get_scan',
  'cancel_scan',
  'list_scans',
  'validate_scan',
  'list_templates',
  'scanner_info',
] as const;

export function buildMcpServer(
  coordinator: Stub,
  principal: Principal,
): { server: McpServer; taskStore: CoordinatorTaskStore } {
  const taskStore = new CoordinatorTaskStore(coordinator, principal);
  const server = new McpServer(
    { name: 'scangate', version: '0.1.0', title: 'scangate: policy-checked nmap for lab networks' },
    {
      capabilities: { tools: {}, tasks: { list: {}, cancel: {}, requests: { tools: { call: {} } } } },
      taskStore,
      jsonSchemaValidator: new CfWorkerJsonSchemaValidator(),
      instructions:
        'Scan lab networks with nmap under a policy. Start with validate_scan to check a request, then nmap_scan. Scans of many hosts or all ports take minutes: call nmap_scan as a task if your client supports tasks, else it blocks until done (progress is reported). Results name the hosts up and their open ports, a page at a time (get_scan with offset for the next); get_scan with outputTail adds raw output; list_scans finds a scan again.',
    },
  );

  const registered: Record<string, RegisteredTool> = {};
  registered.nmap_scan = server.experimental.tasks.registerToolTask(
    'nmap_scan',
    {
      title: 'Run an nmap scan',
      description:
        'Run nmap on lab targets after policy checks; returns hosts up and open ports with service and version.',
      inputSchema: ScanInput,
      outputSchema: ScanResultShape,
      annotations: { destructiveHint: false, openWorldHint: true },
      execution: { taskSupport: 'optional' },
    },
    {
      async createTask(args, extra) {
        const created = await coordinator.createScan(principal, args);
        if (!created.ok) {
          const task = await extra.taskStore.createTask({
            ttl: extra.taskRequestedTtl ?? null,
            context: { result: errorToolResult(created.error) },
          });
          return { task };
        }
        const scanId = created.value.scan.id;
        const task = await extra.taskStore.createTask({
          ttl: extra.taskRequestedTtl ?? null,
          pollInterval: 1000,
          context: { scanId },
        });
        if (taskStore.augmented) return { task };
        // A blocking call: wait here (no poll-interval delay) and relay progress to the client as it comes.
        const progressToken = extra._meta?.progressToken;
        let lastEid = 0;
        let lastPercent = -1;
        let notified = 0;
        for (;;) {
          const watched = await coordinator.watchScan(principal, scanId, lastEid, 25_000);
          if (!watched.ok || extra.signal.aborted) break;
          lastEid = watched.value.lastEid;
          const { scan } = watched.value;
          const percent = scan.progress?.percent;
          if (progressToken !== undefined && percent !== undefined && percent !== lastPercent) {
            lastPercent = percent;
            await extra
              .sendNotification({
                method: 'notifications/progress',
                params: {
                  progressToken,
                  progress: ++notified,
                  message: `${scan.progress?.phase ?? 'scan'} ${percent.toFixed(0)}%${scan.progress?.etaSec !== undefined ? `, ~${scan.progress.etaSec} s left` : ''}`,
                },
              })
              .catch(() => {});
          }
          if (isTerminal(scan.status)) break;
        }
        return { task: (await extra.taskStore.getTask(task.taskId)) ?? task };
      },
      async getTask(_args, extra) {
        return (await extra.taskStore.getTask(extra.taskId))!;
      },
      async getTaskResult(_args, extra) {
        return (await extra.taskStore.getTaskResult(extra.taskId)) as ToolResult;
      },
    },
  );

  registered.get_scan = server.registerTool(
    'get_scan',
    {
      title: 'Get a scan',
      description: `A scan you started: status, hosts up, open ports (${MAX_PAGE_HOSTS} hosts a page); outputTail adds raw output.`,
      inputSchema: {
        scanId: SCAN_ID,
        outputTail: z.number().int().min(0).max(20_000).optional().describe('Characters of raw output from the end.'),
        offset: z
          .number()
          .int()
          .min(0)
          .max(65_536)
          .optional()
          .describe('First host up to list: more.nextOffset of the last page.'),
      },
      outputSchema: ScanResultShape,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async ({ scanId, outputTail, offset }) => {
      const got = await coordinator.getScan(principal, scanId);
      if (!got.ok) return errorToolResult(got.error);
      const { output, ...scan } = got.value;
      const tail = outputTail ? output.slice(-outputTail) : '';
      return scanToolResult(scan, {
        offset: offset ?? 0,
        ...(tail && { extraText: `--- last ${tail.length} characters of output ---\n${tail}` }),
      });
    },
  );

  registered.cancel_scan = server.registerTool(
    'cancel_scan',
    {
      title: 'Cancel a scan',
      description: 'Stop a queued or running scan you started.',
      inputSchema: { scanId: SCAN_ID },
      outputSchema: { scanId: z.string(), status: z.string() },
      annotations: { destructiveHint: false, idempotentHint: true, openWorldHint: false },
    },
    async ({ scanId }) => {
      const cancelled = await coordinator.cancelScan(principal, scanId);
      if (!cancelled.ok) return errorToolResult(cancelled.error);
      const result = scanToolResult(cancelled.value);
      // The cancel itself worked: not an error result, even when the scan already shows as cancelled.
      return {
        content: [{ type: 'text' as const, text: `Cancel requested.\n${result.content[0]!.text}` }],
        structuredContent: { scanId: cancelled.value.id, status: cancelled.value.status },
      };
    },
  );

  registered.list_scans = server.registerTool(
    'list_scans',
    {
      title: 'List your scans',
      description: 'Your scans, newest first, to find a scanId again.',
      inputSchema: {
        status: ScanResultShape.status.optional(),
        limit: z.number().int().min(1).max(50).optional().describe('How many (default 20).'),
      },
      outputSchema: {
        scans: z.array(
          z.object({ scanId: z.string(), status: z.string(), targets: z.array(z.string()), createdAt: z.string() }),
        ),
      },
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async ({ status, limit }) => {
      const listed = await coordinator.listScans(principal, {
        limit: limit ?? 20,
        mine: true,
        ...(status && { status }),
      });
      const scans = listed.scans.map((s) => ({
        scanId: s.id,
        status: s.status,
        targets: s.targets,
        createdAt: s.createdAt,
      }));
      const text = scans.length
        ? scans.map((s) => `${s.scanId} ${s.status} ${s.targets.join(', ')} (${s.createdAt})`).join('\n')
        : 'No scans yet: start one with nmap_scan.';
      return { content: [{ type: 'text' as const, text }], structuredContent: { scans } };
    },
  );

  registered.validate_scan = server.registerTool(
    'validate_scan',
    {
      title: 'Check a scan request',
      description: 'Dry run: the exact nmap argv, or why it would be refused and what to change.',
      inputSchema: {
        target: ScanTargetSchema.describe('As nmap_scan.'),
        template: z.enum(TEMPLATE_NAMES as [string, ...string[]]).optional(),
        args: ScanArgsSchema.optional(),
      },
      outputSchema: { argv: z.array(z.string()), warnings: z.array(z.string()), needsPrivilege: z.boolean() },
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async (args) => {
      const checked = await coordinator.validate(args);
      if (!checked.ok) return errorToolResult(checked.error);
      const { argv, warnings, needsPrivilege } = checked.value;
      const structured = { argv, warnings, needsPrivilege };
      const text = `Valid. nmap ${argv.join(' ')}${needsPrivilege ? '\nNeeds a privileged runner.' : ''}${warnings.length ? `\nWarnings: ${warnings.join('; ')}` : ''}`;
      return { content: [{ type: 'text' as const, text }], structuredContent: structured };
    },
  );

  registered.list_templates = server.registerTool(
    'list_templates',
    {
      title: 'List scan templates',
      description: 'The presets nmap_scan takes as template, with their nmap options.',
      outputSchema: { templates: z.array(z.object({ name: z.string(), args: z.string(), description: z.string() })) },
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async () => {
      const templates = TEMPLATE_NAMES.map((name) => ({
        name,
        args: TEMPLATES[name],
        description: TEMPLATE_DESCRIPTIONS[name],
      }));
      return {
        content: [
          { type: 'text' as const, text: templates.map((t) => `${t.name}: ${t.args} (${t.description})`).join('\n') },
        ],
        structuredContent: { templates },
      };
    },
  );

  registered.scanner_info = server.registerTool(
    'scanner_info',
    {
      title: 'Scanner limits and state',
      description: 'The policy in force, the runners and their breakers, and the NSE scripts --script may name.',
      outputSchema: {
        policy: PolicyShape,
        runners: z.array(
          z.object({
            name: z.string(),
            online: z.boolean(),
            networks: z.array(z.string()),
            privileged: z.boolean().optional(),
            /** The kernel drops every packet of its scans outside its networks (runner/fence.ts). */
            fenced: z.boolean(),
            /** What the runner says of its fence ("nftables, 2 networks", "not root and no CAP_NET_ADMIN"). */
            fenceDetail: z.string().optional(),
            running: z.number(),
            breaker: z.string(),
          }),
        ),
        scripts: z.object({ nmapReleases: z.string(), allowed: z.array(z.string()) }),
      },
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async () => {
      const [policy, runners] = await Promise.all([coordinator.getPolicy(), coordinator.listRunners()]);
      const now = Date.now();
      const live = runners.filter((r) => !r.revokedAt).map((r) => runnerSummary(r, now));
      const releases = `${CATALOG_RELEASES[0]}–${CATALOG_RELEASES.at(-1)}`;
      const allowed = catalogView(policy.allowIntrusive, { allowedOnly: true }).map((s) => s.name);
      const rows = live.map((r) => ({
        name: r.name,
        online: r.online,
        networks: r.networks,
        ...(r.privileged !== null && { privileged: r.privileged }),
        fenced: r.fence?.enforced === true,
        ...(r.fence && { fenceDetail: r.fence.detail }),
        running: r.running,
        breaker: r.breaker,
      }));
      const text = [
        `Allowed networks: ${policy.allowedNetworks.join(', ')}; names under ${policy.allowedHostSuffixes.join(', ')}.`,
        `Limits: ${policy.maxHosts} addresses, ${policy.maxTargets} targets, ${policy.maxPortRanges} port items per scan; timeout ${policy.defaultTimeoutSec} s; ${policy.rateLimitPerMinute} scans/min.`,
        `Intrusive scans ${policy.allowIntrusive ? 'allowed' : 'disabled'}; evasion ${policy.allowEvasion ? 'allowed' : 'disabled'}${policy.requireFence ? '; only fenced runners take scans (requireFence)' : ''}.`,
        ...rows.map(
          (r) =>
            `Runner ${r.name}: ${r.online ? 'online' : 'offline'}, ${r.networks.join(', ') || 'no networks yet'}, ${r.privileged ? 'privileged' : 'unprivileged'}, ${r.fenced ? `fenced (${r.fenceDetail})` : `unfenced${r.fenceDetail ? ` (${r.fenceDetail})` : ''}`}, breaker ${r.breaker}.`,
        ),
        `Scripts (nmap ${releases}): ${allowed.length} may be named in --script; categories default, safe, discovery and version expand to the ones allowed. validate_scan shows what a --script value expands to.`,
      ].join('\n');
      const scripts = { nmapReleases: releases, allowed };
      const policyFields = Object.fromEntries(
        Object.keys(PolicyShape.shape).map((k) => [k, policy[k as keyof Policy]]),
      );
      return {
        content: [{ type: 'text' as const, text }],
        structuredContent: { policy: policyFields, runners: rows, scripts },
      };
    },
  );

  // The scans' raw output and nmap XML, which the results above link to.
  registerScanResources(server, coordinator, principal);

  // tools/list from the same registrations, written lean (see tool-list.ts); calls still go through the SDK.
  server.server.setRequestHandler(ListToolsRequestSchema, () => ({
    tools: Object.entries(registered).map(([name, tool]) => listedTool(name, tool)),
  }));
  return { server, taskStore };
}
