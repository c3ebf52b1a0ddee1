import { createServer, type AddressInfo, type Server } from 'node:net';

/** The banner a real OpenSSH sends first; nmap's NULL probe identifies it at once (ssh, OpenSSH 9.2p1). */
export const SSH_BANNER = 'SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n';

/** A TCP server on a random 127.0.0.1 port that greets with an SSH banner. No test framework (benchmarks use it). */
export async function startBannerServer(): Promise<{ port: number; server: Server }> {
  const server = createServer((socket) => {
    socket.on('error', () => {});
    socket.end(SSH_BANNER);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, server };
}
