import { createMiddleware } from 'hono/factory';
import { ScangateError, scanError } from '../../shared/errors/index.ts';
import { getDirectory } from '../objects/directory.do.ts';
import type { Env } from '../env.ts';
import type { Principal } from '../domain/principal.ts';
import { hashToken, parseToken, secretsEqual } from '../domain/tokens.ts';

export type { Principal } from '../domain/principal.ts';

export type AppEnv = { Bindings: Env; Variables: { principal: Principal } };

const BOOTSTRAP_ADMIN: Principal = {
  tokenId: 'admin-bootstrap',
  name: 'bootstrap admin',
  role: 'admin',
  pool: 'default',
  global: true,
};

function bearer(header: string | undefined): string | undefined {
  const m = /^Bearer ([\x21-\x7e]{1,512})$/i.exec(header ?? '');
  return m?.[1];
}

/** Resolves a bearer token to a principal, or undefined. The admin secret is compared in constant time. */
export async function authenticate(header: string | undefined, env: Env): Promise<Principal | undefined> {
  const token = bearer(header);
  if (!token) return undefined;
  if (env.ADMIN_TOKEN && (await secretsEqual(token, env.ADMIN_TOKEN))) return BOOTSTRAP_ADMIN;
  const parsed = parseToken(token);
  if (!parsed) return undefined;
  const record = await getDirectory(env, parsed.shard).verify(await hashToken(token));
  if (!record || (record.kind === 'runner') !== (parsed.kind === 'runner')) return undefined;
  // A global admin token is stored with pool `*`; it works on `default` unless a request names another pool.
  const global = record.role === 'admin' && record.pool === '*';
  return {
    tokenId: record.id,
    name: record.name,
    role: record.role,
    pool: global ? 'default' : record.pool,
    ...(global && { global }),
    ...(record.runnerId && { runnerId: record.runnerId }),
  };
}

export function unauthorized(): ScangateError {
  return new ScangateError(
    scanError(
      'unauthorized',
      'Missing or invalid bearer token',
      'Send Authorization: Bearer <token>; an admin can mint one with POST /v1/tokens.',
    ),
  );
}

/**
 * Requires a token with one of `roles` (admin may do everything a scan token may). Runner tokens open nothing
 * but the runner endpoint, which checks them itself.
 */
export function requireRole(...roles: Array<'scan' | 'admin'>) {
  return createMiddleware<AppEnv>(async function requireRoleMiddleware(c, next) {
    const principal = await authenticate(c.req.header('authorization'), c.env);
    if (!principal) throw unauthorized();
    const allowed = principal.role === 'admin' || (roles as string[]).includes(principal.role);
    if (!allowed) {
      throw new ScangateError(
        scanError(
          'forbidden',
          `This needs a ${roles.join(' or ')} token; yours is a ${principal.role} token`,
          principal.role === 'runner'
            ? 'Runner tokens only open /v1/runners/connect.'
            : 'Ask an admin for a token with the right role.',
        ),
      );
    }
    c.set('principal', principal);
    await next();
  });
}
