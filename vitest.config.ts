import { cloudflareTest } from '@cloudflare/vitest-plugin';
import { defineConfig } from 'vitest/config';

/**
 * Two tiers: `node` runs pure shared code, the runner and cross-part tests on Node; `worker` runs the
 * Worker and its Durable Objects inside real workerd through the Cloudflare Vitest integration.
 */
export default defineConfig({
  test: {
    // Vitest's default is one file at a time on a 2-core machine (cores - 1). Most files wait on nmap, wrangler dev
    // and sockets rather than compute, so two at a time cuts the wall time; every test waits on events, not on
    // timing windows, so a busier machine is slower, not wrong.
    maxWorkers: 2,
    projects: [
      {
        test: {
          name: 'node',
          environment: 'node',
          include: ['shared/**/*.test.ts', 'runner/**/*.test.ts', 'scripts/**/*.test.ts', 'test/**/*.test.ts'],
          testTimeout: 60_000, // process-level tests wait on events; a generous ceiling keeps them from failing on a busy machine
        },
      },
      {
        plugins: [
          cloudflareTest({
            wrangler: { configPath: './wrangler.toml' },
            // Short leases and queue waits so lease expiry and queue timeouts happen within a test; a small scan-audit
            // retention so the audit attack test overflows it quickly; the origins /mcp allows (worker/http/mcp/guards.test.ts).
            miniflare: {
              bindings: {
                ADMIN_TOKEN: 'test-admin-token-0123456789abcdef',
                LEASE_SEC: '2',
                QUEUE_WAIT_SEC: '2',
                AUDIT_SCAN_MAX_ROWS: '50',
                PUBLIC_ORIGIN: 'https://scangate.test',
                ALLOWED_ORIGINS: 'https://agent-console.test, http://localhost:6274',
                // Alert webhooks over plain http to loopback receivers, retried on a 100 ms backoff base (worker/test/alerts.test.ts).
                ALLOW_LOOPBACK_WEBHOOKS: '1',
                ALERT_RETRY_BASE_MS: '100',
              },
            },
          }),
        ],
        test: {
          name: 'worker',
          include: ['worker/**/*.test.ts', 'worker/**/*.test.tsx'],
          testTimeout: 30_000,
        },
      },
    ],
  },
});
