import { ScangateError, type ScanError } from '../../shared/errors/index.ts';

/**
 * What a Durable Object method that can refuse returns: its value, or the error to answer with. Errors are
 * returned, not thrown, because a thrown error loses its type, fix and details on the way through RPC.
 *
 * Every part of a Result that crosses RPC MUST be serializable in workerd's stub types (no `unknown`, no
 * functions; free-form data is `JsonValue`), so that a caller's `unwrap(await stub.method())` infers T from the
 * stub with no cast. `test/rpc-boundary.test.ts` fails if a cast comes back at a call site.
 */
export type Result<T> = { ok: true; value: T } | { ok: false; error: ScanError };

export const ok = <T>(value: T): Result<T> => ({ ok: true, value });
export const fail = (error: ScanError): { ok: false; error: ScanError } => ({ ok: false, error });

/** The value of a Result, or its error thrown for the one error handler (HTTP adapters: routes, dashboard). */
export function unwrap<T>(result: Result<T>): T {
  if (!result.ok) throw new ScangateError(result.error);
  return result.value;
}
