import { createServer, type AddressInfo } from 'node:net';
import { afterAll, beforeAll } from 'vitest';

/** The banner a real OpenSSH sends first; nmap's NULL probe identifies it at once (ssh, OpenSSH 9.2p1). */
export const SSH_BANNER = 'SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n';

/**
 * A TCP server on a random 127.0.0.1 port that greets with an SSH banner, open for the whole test file.
 * Returns a getter, since the port is known only once the file's beforeAll has run.
 */
export function useBannerServer(): { port: () => number } {
  const server = createServer((socket) => {
    socket.on('error', () => {});
    socket.end(SSH_BANNER);
  });
  beforeAll(() => new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve)));
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port: () => (server.address() as AddressInfo).port };
}
