import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import type { AppEnv, Principal } from '../auth.ts';
import { getDirectory, type SessionPurpose } from '../../objects/directory.do.ts';
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

/**
 * The kinds of session: the dashboard's (admins, 8 hours) and a sign-in on the OAuth consent page (any API token,
 * 10 minutes, its own cookie), which opens nothing but that page (worker/http/oauth/consent.api.tsx).
 */
export interface SessionKind {
  purpose: SessionPurpose;
  cookie: string;
  ttlMs: number;
}
export const DASHBOARD_SESSION: SessionKind = { purpose: 'dashboard', cookie: 'sg_session', ttlMs: SESSION_TTL_MS };
export const CONSENT_SESSION: SessionKind = { purpose: 'consent', cookie: 'sg_consent', ttlMs: 10 * 60 * 1000 };

const secure = (c: Context) => new URL(c.req.url).protocol === 'https:';
const cookieName = (c: Context, kind: SessionKind) => (secure(c) ? `__Host-${kind.cookie}` : kind.cookie);

export async function startSession<E extends AppEnv>(
  c: Context<E>,
  principal: Principal,
  kind: SessionKind = DASHBOARD_SESSION,
): Promise<Session> {
  const shard = shardOfTokenId(principal.tokenId) ?? randomShard();
  const id = mintSessionId(shard);
  const csrf = randomToken(24);
  await getDirectory(c.env, shard).createSession(await hashToken(id), {
    csrf,
    tokenId: principal.tokenId,
    name: principal.name,
    pool: principal.pool,
    expiresAt: Date.now() + kind.ttlMs,
    purpose: kind.purpose,
    role: principal.role,
  });
  setCookie(c, cookieName(c, kind), id, {
    path: '/',
    httpOnly: true,
    sameSite: 'Strict',
    secure: secure(c),
    maxAge: kind.ttlMs / 1000,
  });
  return { id, csrf, principal };
}

export async function currentSession<E extends AppEnv>(
  c: Context<E>,
  kind: SessionKind = DASHBOARD_SESSION,
): Promise<Session | null> {
  const id = getCookie(c, cookieName(c, kind));
  const shard = id ? sessionShard(id) : undefined;
  if (!id || !shard) return null;
  const record = await getDirectory(c.env, shard).session(await hashToken(id), kind.purpose);
  if (!record) return null;
  // A dashboard session is an admin's by construction (only admins log in there); older rows carry no role.
  const role = kind.purpose === 'dashboard' ? 'admin' : (record.role ?? 'scan');
  return {
    id,
    csrf: record.csrf,
    principal: { tokenId: record.tokenId, name: record.name, role, pool: record.pool },
  };
}

export async function endSession<E extends AppEnv>(
  c: Context<E>,
  session: Session,
  kind: SessionKind = DASHBOARD_SESSION,
): Promise<void> {
  await getDirectory(c.env, sessionShard(session.id)!).deleteSession(await hashToken(session.id));
  deleteCookie(c, cookieName(c, kind), { path: '/', secure: secure(c) });
}

/** The CSRF token sent with an action (form field or header) matches the session's. */
export async function csrfValid(session: Session, sent: string | undefined): Promise<boolean> {
  return typeof sent === 'string' && sent.length > 0 && (await secretsEqual(sent, session.csrf));
}
