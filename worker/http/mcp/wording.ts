import type { ScanError } from '../../../shared/errors/index.ts';

/**
 * Error fixes worded for MCP. The taxonomy's `recoverySuggestion` is written once, for REST (it names routes
 * such as GET /v1/scans); an agent can only call tools, so over MCP each REST action is named by the tool that
 * does the same, or by who can do it when no tool can (policy changes are an admin's). REST keeps its wording:
 * this runs only where a result leaves the MCP endpoint. Pure.
 *
 * Phrases are matched where the taxonomy writes them today; anything that still names a route after them is
 * caught by the generic rules at the end, so a new REST-worded fix reads plainly here rather than leaking a
 * route (tests assert no MCP text names `GET /`, `POST /`, `/v1/` or `curl`).
 */
const MCP_PHRASES: ReadonlyArray<readonly [RegExp, string]> = [
  [/List your scans with GET \/v1\/scans\.?/g, 'List your scans with the list_scans tool.'],
  [/scanner_info \(MCP\) or GET \/v1\/scripts/g, 'scanner_info'],
  [/\(scanner_info over MCP, GET \/v1\/scripts\)/g, '(scanner_info lists them)'],
  [/GET \/v1\/scripts/g, 'scanner_info'],
  [/an admin can inspect GET \/v1\/breakers/g, "scanner_info shows each runner's breaker"],
  [
    /List (?:runners|breakers) with GET \/v1\/(?:runners|breakers)\.?/g,
    'scanner_info lists the runners and their breakers.',
  ],
  [/ \(PUT \/v1\/policy\)/g, ' (scanner_info shows the policy in force)'],
  [/; an admin can mint one with POST \/v1\/tokens/g, '; ask an admin for a scan token'],
  [/Runner tokens only open \/v1\/runners\/connect\./g, 'Runner tokens only connect runners; use a scan token.'],
  // Generic rules: whatever route is left is an admin's action, not the agent's.
  [/ ?\((?:GET|POST|PUT|PATCH|DELETE) \/v1\/[^)]*\)/g, ''],
  [/(?:with |via |use )?(?:GET|POST|PUT|PATCH|DELETE) \/v1\/\S*/g, 'through the admin API'],
  [/\/v1\/\S*/g, 'the admin API'],
  [/\bcurl\b/g, 'an HTTP client'],
];

/** A fix as an agent over MCP should read it. */
export function mcpFix(recoverySuggestion: string): string {
  let text = recoverySuggestion;
  for (const [pattern, replacement] of MCP_PHRASES) text = text.replace(pattern, replacement);
  return text;
}

/** The error with its fix worded for MCP; type, message and the rest unchanged. */
export function forMcp(error: ScanError): ScanError {
  return { ...error, recoverySuggestion: mcpFix(error.recoverySuggestion) };
}
