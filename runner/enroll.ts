/**
 * The two edge calls `scangate-runner install` makes over HTTPS (the origin of the runner's --server URL): trading an
 * enrollment code for the runner token (POST /v1/runners/enroll), and asking whether an existing token still works
 * (GET /v1/runners/self). The token is returned, never logged.
 */
import { EXIT } from './config.ts';

/** Stops install/uninstall with a one-line message and an exit code (installCommand prints it). */
export function fail(message: string, code: number = EXIT.usage): never {
  throw Object.assign(new Error(message), { exitCode: code });
}

/** The HTTP(S) origin of a ws(s):// server URL. */
function httpOrigin(server: string): string {
  const url = new URL(server);
  url.protocol = url.protocol === 'wss:' ? 'https:' : 'http:';
  return url.origin;
}

/** Trades an enrollment code for the runner token at the edge the runner will dial. */
export async function exchangeCode(
  server: string,
  code: string,
): Promise<{ token: string; networks: string[]; name: string }> {
  const origin = httpOrigin(server);
  const res = await fetch(`${origin}/v1/runners/enroll`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ code }),
    signal: AbortSignal.timeout(30_000),
  }).catch((e: Error) => fail(`could not reach ${origin} to enroll: ${e.message}`, EXIT.fatal));
  const body = (await res.json().catch(() => ({}))) as {
    token?: unknown;
    networks?: string[];
    runner?: { name?: string };
    error?: { message?: string; recoverySuggestion?: string };
  };
  if (res.status !== 201 || typeof body.token !== 'string') {
    const e = body.error ?? {};
    fail(
      `the edge refused the enrollment code: ${e.message ?? res.status}${e.recoverySuggestion ? ` (${e.recoverySuggestion})` : ''}`,
      EXIT.unauthorized,
    );
  }
  return { token: body.token, networks: body.networks ?? [], name: body.runner?.name ?? '' };
}

/** Whether the edge says no to this runner token (401/403 from its self-check); unreachable is not a no. */
export async function edgeRefuses(server: string, token: string): Promise<boolean> {
  try {
    const res = await fetch(`${httpOrigin(server)}/v1/runners/self`, {
      headers: { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(15_000),
    });
    await res.body?.cancel();
    return res.status === 401 || res.status === 403;
  } catch {
    return false;
  }
}
