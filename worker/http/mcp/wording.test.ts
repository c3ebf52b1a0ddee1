import { describe, expect, it } from 'vitest';
import { scanError } from '../../../shared/errors/index.ts';
import { forMcp, mcpFix } from './wording.ts';

const REST_WORDING = /\b(?:GET|POST|PUT|PATCH|DELETE) \/|\/v1\/|\bcurl\b/;

describe('fixes worded for MCP', () => {
  it('names the tool for each REST action the taxonomy writes today', () => {
    // The fixes as shared/policy, the Coordinator, routing and auth write them for REST.
    const cases: Array<[string, RegExp]> = [
      ['List your scans with GET /v1/scans.', /^List your scans with the list_scans tool\.$/],
      [
        'Did you mean http-title? The catalog: scanner_info (MCP) or GET /v1/scripts.',
        /^Did you mean http-title\? The catalog: scanner_info\.$/,
      ],
      [
        'Name a script from the catalog (scanner_info over MCP, GET /v1/scripts), or a category such as default or safe.',
        /\(scanner_info lists them\)/,
      ],
      [
        'Leave it out, or ask an admin to set allowIntrusive in the policy (PUT /v1/policy).',
        /allowIntrusive in the policy \(scanner_info shows the policy in force\)\.$/,
      ],
      [
        'Retry in 30 s, when a breaker half-opens; an admin can inspect GET /v1/breakers.',
        /^Retry in 30 s, when a breaker half-opens; scanner_info shows each runner's breaker\.$/,
      ],
      ['List runners with GET /v1/runners.', /scanner_info/],
      [
        'Send Authorization: Bearer <token>; an admin can mint one with POST /v1/tokens.',
        /; ask an admin for a scan token\.$/,
      ],
      ['Runner tokens only open /v1/runners/connect.', /use a scan token/],
      // Wording nobody has written yet still reads without a route.
      ['Ask an admin to run DELETE /v1/tokens/abc or curl it.', /through the admin API/],
      ['See (GET /v1/something/else) for more.', /^See for more\.$/],
    ];
    for (const [rest, mcp] of cases) {
      const worded = mcpFix(rest);
      expect(worded, rest).toMatch(mcp);
      expect(worded, rest).not.toMatch(REST_WORDING);
    }
  });

  it('leaves fixes without routes, and everything but the fix, as they are', () => {
    expect(mcpFix('Use a connect scan (-sT) without -O/--traceroute, or grant a runner CAP_NET_RAW.')).toBe(
      'Use a connect scan (-sT) without -O/--traceroute, or grant a runner CAP_NET_RAW.',
    );
    const error = scanError('not_found', 'No scan scan_x', 'List your scans with GET /v1/scans.', {
      details: { id: 'scan_x' },
    });
    expect(forMcp(error)).toEqual({ ...error, recoverySuggestion: 'List your scans with the list_scans tool.' });
    expect(error.recoverySuggestion).toBe('List your scans with GET /v1/scans.'); // REST keeps its wording
  });
});
