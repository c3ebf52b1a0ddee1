import type { Server } from 'node:net';
import { afterAll, beforeAll } from 'vitest';
import { startBannerServer } from './banner.ts';

export { SSH_BANNER } from './banner.ts';

/**
 * The SSH-banner server (./banner.ts), open for the whole test file.
 * Returns a getter, since the port is known only once the file's beforeAll has run.
 */
export function useBannerServer(): { port: () => number } {
  let server: Server | undefined;
  let port = 0;
  beforeAll(async () => {
    ({ server, port } = await startBannerServer());
  });
  afterAll(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));
  return { port: () => port };
}
