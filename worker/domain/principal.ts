import type { Role } from './tokens.ts';

/**
 * Who is calling. MUST come from authentication (worker/http/auth.ts), never from a request body. Every object and
 * domain rule that decides by caller takes one of these.
 */
export interface Principal {
  tokenId: string;
  name: string;
  role: Role;
  /** The pool this token acts on (a global admin's default pool is `default`). */
  pool: string;
  /** A global admin may act on every pool (domain/pools.ts); every other token on its own pool only. */
  global?: boolean;
  runnerId?: string;
}
