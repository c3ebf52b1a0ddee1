import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import type { AppEnv, Principal } from '../auth.ts';
import { getDirectory } from '../../objects/directory.do.ts';
import {
  hashToken,
  mintSessionId,
  randomShard,
  randomToken,
  secretsEqual,
  sessionShard,
  shardOfTokenId,
} from '../../domain/tokens.ts';

/**
 * Dashboard sessions: an admin token is exchanged once for a random session id in an HttpOnly, SameSite=Strict
 * cookie (Secure, with the __Host- prefix, over https). The Directory keeps only its hash, with a CSRF token and
 * the token it came from, in that token's shard, so revoking the token ends the session. Sessions last 8 hours.
 */
export const SESSION_TTL_MS = 8 * 3600 * 1000;

export interface Session {
  id: string;
  csrf: string;
  principal: Principal;
}

const secure = (c: Context) => new URL(c.req.url).protocol === 'https:';
const cookieName = (c: Context) => (secure(c) ? '__Host-sg_session' : 'sg_session');

export async function startSession<E extends AppEnv>(c: Context<E>, principal: Principal): Promise<void> {
  const shard = shardOfTokenId(principal.tokenId) ?? randomShard();
  const id = mintSessionId(shard);
  await getDirectory(c.env, shard).createSession(await hashToken(id), {
    csrf: randomToken(24),
    tokenId: principal.tokenId,
    name: principal.name,
    pool: principal.pool,
    expiresAt: Date.now() + SESSION_TTL_MS,
  });
  setCookie(c, cookieName(c), id, {
    path: '/',
    httpOnly: true,
    sameSite: 'Strict',
    secure: secure(c),
    maxAge: SESSION_TTL_MS / 1000,
  });
}

export async function currentSession<E extends AppEnv>(c: Context<E>): Promise<Session | null> {
  const id = getCookie(c, cookieName(c));
  const shard = id ? sessionShard(id) : undefined;
  if (!id || !shard) return null;
  const record = await getDirectory(c.env, shard).session(await hashToken(id));
  if (!record) return null;
  return {
    id,
    csrf: record.csrf,
    principal: { tokenId: record.tokenId, name: record.name, role: 'admin', pool: record.pool },
  };
}

export async function endSession<E extends AppEnv>(c: Context<E>, session: Session): Promise<void> {
  await getDirectory(c.env, sessionShard(session.id)!).deleteSession(await hashToken(session.id));
  deleteCookie(c, cookieName(c), { path: '/', secure: secure(c) });
}

/** The CSRF token sent with an action (form field or header) matches the session's. */
export async function csrfValid(session: Session, sent: string | undefined): Promise<boolean> {
  return typeof sent === 'string' && sent.length > 0 && (await secretsEqual(sent, session.csrf));
}
