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
import {
  DEFAULT_WAIT_SEC,
  listScansText,
  stillRunningResult,
  waitForScan,
  waitResult,
  WaitOutputShape,
  waitSecInput,
} from './scan-wait.ts';
import { registerScanResources } from './scan.resources.ts';
import { ADMIN_TOOL_NAMES, registerHistoryTools } from './history.tools.ts';
import { CoordinatorTaskStore } from './task-store.ts';
import { listedTool } from './tool-list.ts';

/**
 * The MCP tools. `nmap_scan` goes through exactly the Coordinator call `POST /v1/scans` uses. Descriptions are
 * written to teach an agent the request shapes in few tokens.
 */
const TARGET = ScanTargetSchema.describe(
  'IP, CIDR or *.lab.internal name, or a list; lab networks only, one address family.',
);
const ARGS = ScanArgsSchema.optional().describe(
  'nmap options, e.g. "-sT -sV -p 22,80"; no targets, output or file options. -sS/-sU/-O need a privileged runner, -A and intrusive scripts a policy that allows them.',
);
const TEMPLATE = z
  .enum(TEMPLATE_NAMES as [string, ...string[]])
  .optional()
  .describe('Preset (see list_templates); args add to or override it.');
/** The policy fields an agent plans by (scanner_info). */
const PolicyShape = z.object({
  allowedNetworks: z.array(z.string()),
  allowedHostSuffixes: z.array(z.string()),
  maxHosts: z.number(),
  allowIntrusive: z.boolean(),
  allowEvasion: z.boolean(),
  requireFence: z.boolean(),
});
/** Undescribed: the name says it, and the tools that return one say so (tools/list is measured). */
const SCAN_ID = z.string().regex(SCAN_ID_PATTERN);

const ScanInput = {
  target: TARGET,
  template: TEMPLATE,
  args: ARGS,
  timeoutSec: z.number().int().min(1).max(3600).optional().describe('Scan time limit (default 600).'),
  waitSec: waitSecInput('Seconds to block (default 45).'),
};

type Stub = DurableObjectStub<Coordinator>;

/** Every tool this server registers (the endpoint answers calls to any other name with a protocol error). */
export const TOOL_NAMES = [
  'nmap_scan',
  'wait_for_scan',
  'get_scan',
  'cancel_scan',
  'list_scans',
  'validate_scan',
  'list_templates',
  'scanner_info',
  'diff_scans',
  'find_services',
  ...ADMIN_TOOL_NAMES,
] as const;

/** The tools `principal` is given (admin-only ones are unknown to anyone else). */
export function toolNamesFor(principal: Principal): readonly string[] {
  return principal.role === 'admin'
    ? TOOL_NAMES
    : TOOL_NAMES.filter((n) => !(ADMIN_TOOL_NAMES as readonly string[]).includes(n));
}

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
        'Scan lab networks with nmap under a policy. validate_scan checks a request. nmap_scan starts a scan and waits up to waitSec (45 s); one still running then returns its scanId and progress: call wait_for_scan with it until it ends (or run nmap_scan as an MCP task). get_scan reads a result a page at a time (offset), outputTail adds raw output. list_scans finds a lost scanId.',
    },
  );

  const registered: Record<string, RegisteredTool> = {};
  registered.nmap_scan = server.experimental.tasks.registerToolTask(
    'nmap_scan',
    {
      title: 'Run an nmap scan',
      description:
        'Run nmap on lab targets after policy checks: hosts up, open ports, services, or progress and the next call if running past waitSec.',
      inputSchema: ScanInput,
      outputSchema: ScanResultShape,
      annotations: { destructiveHint: false, openWorldHint: true },
      execution: { taskSupport: 'optional' },
    },
    {
      async createTask(args, extra) {
        const { waitSec: _wait, ...request } = args;
        const created = await coordinator.createScan(principal, request);
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
        // A blocking call: wait at most waitSec (relaying progress), then answer the scan as it stands.
        const waitSec = args.waitSec ?? DEFAULT_WAIT_SEC;
        const waited = await waitForScan(coordinator, principal, scanId, waitSec * 1000, extra);
        if (waited.ok && !isTerminal(waited.value.status)) {
          taskStore.answerNow(task.taskId, stillRunningResult(waited.value, waitSec));
          // Ends the SDK's poll for this call only; the task (tasks/get) still follows the scan.
          return { task: { ...task, status: 'completed' as const } };
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

  registered.wait_for_scan = server.registerTool(
    'wait_for_scan',
    {
      title: 'Wait for a scan',
      description: 'Block until a scan ends or maxWaitSec passes; repeat while it runs, then get_scan.',
      inputSchema: { scanId: SCAN_ID, maxWaitSec: waitSecInput('Default 45.') },
      outputSchema: WaitOutputShape,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async ({ scanId, maxWaitSec }, extra) => {
      const waitSec = maxWaitSec ?? DEFAULT_WAIT_SEC;
      const waited = await waitForScan(coordinator, principal, scanId, waitSec * 1000, extra);
      return waited.ok ? waitResult(waited.value, waitSec) : errorToolResult(waited.error);
    },
  );

  registered.get_scan = server.registerTool(
    'get_scan',
    {
      title: 'Get a scan',
      description: `A scan: status, hosts up, open ports (${MAX_PAGE_HOSTS} hosts a page); outputTail adds raw output.`,
      inputSchema: {
        scanId: SCAN_ID,
        outputTail: z.number().int().min(0).max(20_000).optional().describe('Raw output chars from the end.'),
        offset: z.number().int().min(0).max(65_536).optional().describe('more.nextOffset of the last page.'),
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
      const text = listed.scans.length
        ? listScansText(listed.scans)
        : `No ${status ? `${status} ` : ''}scans: start one with nmap_scan.`;
      return { content: [{ type: 'text' as const, text }], structuredContent: { scans } };
    },
  );

  registered.validate_scan = server.registerTool(
    'validate_scan',
    {
      title: 'Check a scan request',
      description: 'Dry run: the exact nmap argv, or why it is refused and what to change.',
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
      description: "nmap_scan's template presets and their options.",
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
      description: 'Policy in force, runners and their breakers, NSE scripts --script may name.',
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

  registerHistoryTools(server, coordinator, principal, registered);

  // The scans' raw output and nmap XML, which the results above link to.
  registerScanResources(server, coordinator, principal);

  // tools/list from the same registrations, written lean (see tool-list.ts); calls still go through the SDK.
  server.server.setRequestHandler(ListToolsRequestSchema, () => ({
    tools: Object.entries(registered).map(([name, tool]) => listedTool(name, tool)),
  }));
  return { server, taskStore };
}
