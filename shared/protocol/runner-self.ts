import { z } from 'zod';

/**
 * The answer to `GET /v1/runners/self` (runner token): what the edge knows of this runner and the pool facts a
 * runner compares its own settings with. Read-only: asking never touches the runner's link. The edge builds it,
 * `scangate-runner doctor` parses it; both with this schema. Not strict, so an edge may add fields.
 */
export const RunnerSelfSchema = z.object({
  runner: z.object({ id: z.string().max(64), name: z.string().max(64), pool: z.string().max(32) }),
  /** What an admin granted (POST /v1/runners {name, networks}); a hello may declare these or parts of them. */
  grantedNetworks: z.array(z.string().max(64)).max(256),
  link: z.object({
    /** A runner holds the link with this token now. */
    online: z.boolean(),
    lastSeen: z.string().max(40).nullable(),
    /** From the hello of the live (or last) link. */
    declaredNetworks: z.array(z.string().max(64)).max(256).nullable(),
    runnerVersion: z.string().max(64).nullable(),
    nmapVersion: z.string().max(64).nullable(),
    privileged: z.boolean().nullable(),
  }),
  breaker: z.string().max(16),
  edge: z.object({ protocols: z.array(z.number().int()).max(16), heartbeatSec: z.number() }),
  policy: z.object({
    allowedNetworks: z.array(z.string().max(64)).max(256),
    allowIntrusive: z.boolean(),
    allowEvasion: z.boolean(),
  }),
});

export type RunnerSelf = z.infer<typeof RunnerSelfSchema>;
