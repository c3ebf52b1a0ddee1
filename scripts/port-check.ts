/**
 * Is the port `npm start` wants already taken, and by what? Asked before `wrangler dev` starts: wrangler on a held
 * port fails to bind while the old holder keeps answering /health, so the new stack would talk to the old one
 * (its admin token refused: `POST /v1/tokens: 401`) or exit a moment after saying it runs.
 */
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';

export interface PortHolder {
  /** Whether a scangate edge answers /health there. */
  scangate: boolean;
  /** `name (pid N)` of the listening process, where `ss` can tell. */
  process: string | undefined;
}

/** Undefined when 127.0.0.1:`port` can be bound; else what holds it. */
export async function portHolder(port: number): Promise<PortHolder | undefined> {
  const server = createServer();
  server.listen({ port, host: '127.0.0.1', exclusive: true });
  const outcome = await new Promise<'free' | NodeJS.ErrnoException>((resolve) => {
    server.once('listening', () => resolve('free'));
    server.once('error', (e: NodeJS.ErrnoException) => resolve(e));
  });
  if (outcome === 'free') {
    server.close();
    await once(server, 'close');
    return undefined;
  }
  if (outcome.code !== 'EADDRINUSE' && outcome.code !== 'EACCES') throw outcome;
  return { scangate: await answersAsScangate(port), process: listener(port) };
}

async function answersAsScangate(port: number): Promise<boolean> {
  try {
    // Any answer counts, healthy or not: scangate's /health names its coordinator check.
    const res = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(3000) });
    const body = (await res.json()) as { checks?: { coordinator?: unknown } };
    return typeof body.checks?.coordinator === 'object';
  } catch {
    return false;
  }
}

/** The process listening on the port, from iproute2's `ss` (names other users' processes only for root). */
function listener(port: number): string | undefined {
  try {
    const out = execFileSync('ss', ['-Hltnp', `sport = :${port}`], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const hit = /users:\(\("([^"]+)",pid=(\d+)/.exec(out);
    return hit ? `${hit[1]} (pid ${hit[2]})` : undefined;
  } catch {
    return undefined;
  }
}
