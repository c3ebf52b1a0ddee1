import type { RegisteredTool } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

/**
 * The `tools/list` answer, built from the tools as registered, lean enough for an agent's context (a test holds
 * it under 8,000 characters). The SDK's own listing converts each zod shape as zod does; this one writes the same
 * schemas with what carries no meaning for a client left out:
 * - `$schema`: MCP 2025-11-25 takes 2020-12 as the default dialect, and the keywords used here (type, properties,
 *   required, items, enum, anyOf, pattern, bounds) mean the same in draft-07 and 2020-12;
 * - `additionalProperties: false` on output schemas: a client on an older tools/list then still accepts results
 *   that gained a field (the SDK still validates what the server sends against the zod shape);
 * - `required` on output schemas, for size (a ninth of tools/list) and in the same spirit (a client on an older
 *   tools/list still accepts a result whose field became optional): hosts do not show output schemas to the
 *   model, and results are still typed against the full zod shape;
 * - `enum` on output schemas (the scan statuses, four times over): the same spirit again, and the values are
 *   named where an agent reads them, in list_scans' input and in every result's text;
 * - bounds zod adds for integers (±2^53-1), and `execution` when it is the default (`forbidden`);
 * - `minLength`/`maxLength`/`maxItems`: anti-abuse caps and non-empty checks far above any real request (256 targets, 4 KB of options), which
 *   the server still enforces, answering an input validation error that names the field;
 * - `pattern`: only scanId has one, and an agent copies its values from a result rather than writing them; the
 *   server still checks it, with the same input validation error.
 * Nullables are never written as `type: [x, "null"]`: the shapes use optional fields instead. Pure.
 */
const SAFE_INT = Number.MAX_SAFE_INTEGER;

function lean(node: unknown, output: boolean): unknown {
  if (Array.isArray(node)) return node.map((n) => lean(n, output));
  if (typeof node !== 'object' || node === null) return node;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === '$schema') continue;
    if (key === 'additionalProperties' && value === false && output) continue;
    if (key === 'required' && Array.isArray(value) && output) continue;
    if (key === 'enum' && output) continue;
    if ((key === 'maximum' && value === SAFE_INT) || (key === 'minimum' && value === -SAFE_INT)) continue;
    if (key === 'maxLength' || key === 'maxItems' || key === 'pattern' || key === 'minLength') continue;
    out[key] = lean(value, output);
  }
  return out;
}

function jsonSchemaOf(schema: unknown, io: 'input' | 'output'): Tool['inputSchema'] {
  const converted = schema
    ? z.toJSONSchema(schema as z.ZodType, { target: 'draft-07', io })
    : { type: 'object', properties: {} };
  return lean(converted, io === 'output') as Tool['inputSchema'];
}

/**
 * Annotations without `openWorldHint: false` (22 characters on nine tools): those tools only read or change
 * scangate's own records. Left out, a client assumes the spec's default (open world), the cautious reading; the one
 * tool that reaches the network, nmap_scan, says `openWorldHint: true` itself.
 */
function leanAnnotations(annotations: NonNullable<RegisteredTool['annotations']>): Tool['annotations'] {
  const { openWorldHint, ...rest } = annotations;
  return openWorldHint === false ? rest : annotations;
}

/** One tool as tools/list shows it. */
export function listedTool(name: string, tool: RegisteredTool): Tool {
  return {
    name,
    ...(tool.title && { title: tool.title }),
    ...(tool.description && { description: tool.description }),
    inputSchema: jsonSchemaOf(tool.inputSchema, 'input'),
    ...(tool.outputSchema && { outputSchema: jsonSchemaOf(tool.outputSchema, 'output') }),
    ...(tool.annotations && { annotations: leanAnnotations(tool.annotations) }),
    ...(tool.execution && tool.execution.taskSupport !== 'forbidden' && { execution: tool.execution }),
    ...(tool._meta && { _meta: tool._meta }),
  };
}
