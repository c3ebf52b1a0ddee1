import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/** The banner a real OpenSSH sends first; nmap's NULL probe identifies it at once (ssh, OpenSSH 9.2p1). */
export const SSH_BANNER = 'SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n';

/** A TCP server on a random 127.0.0.1 port that greets with an SSH banner. No test framework (benchmarks use it). */
export async function startBannerServer(): Promise<{ port: number; server: Server }> {
  // Scripts (e.g. -sC's ssh ones) may leave a half-closed connection behind; close() ends them instead of waiting.
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.end(SSH_BANNER);
  });
  const close = server.close.bind(server);
  server.close = (callback?: (err?: Error) => void) => {
    for (const socket of sockets) socket.destroy();
    return close(callback);
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, server };
}
