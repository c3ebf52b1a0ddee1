import { cloudflareTest } from '@cloudflare/vitest-plugin';
import { defineConfig } from 'vitest/config';
import { LongestFirstSequencer } from './test/helpers/sequencer.ts';

/**
 * Two tiers: `node` runs pure shared code, the runner and cross-part tests on Node; `worker` runs the
 * Worker and its Durable Objects inside real workerd through the Cloudflare Vitest integration.
 */
// Miniflare would fetch workers.cloudflare.com/cf.json outside NODE_ENV=test; never let a test ask DNS for it.
process.env.CLOUDFLARE_CF_FETCH_ENABLED = 'false';

export default defineConfig({
  test: {
    // Vitest's default is one file at a time on a 2-core machine (cores - 1). Most files wait on nmap, wrangler dev,
    // alarms and sockets rather than compute: with two at a time the suite used 437 s of CPU in 468 s (under half of
    // two cores), so three at a time. Every test waits on events, not on timing windows: busier is slower, not wrong.
    maxWorkers: 3,
    // The longest files first, across both projects, so the workers finish together (test/helpers/sequencer.ts).
    sequence: { sequencer: LongestFirstSequencer },
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
