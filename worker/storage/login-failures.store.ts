/**
 * Failed dashboard logins per throttling bucket (a hash of the bucket key: no address or token prefix is stored
 * in the clear), in a Directory shard's storage. Rows older than the window are pruned as failures are written.
 */
export class LoginFailureStore {
  #sql: SqlStorage;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
  }

  /** The bucket's failure times after `since`, newest first, at most `limit`. */
  recent(bucket: string, since: number, limit: number): number[] {
    return this.#sql
      .exec<{ at: number }>(
        'SELECT at FROM login_failures WHERE bucket = ? AND at > ? ORDER BY at DESC LIMIT ?',
        bucket,
        since,
        limit,
      )
      .toArray()
      .map((r) => r.at);
  }

  add(bucket: string, at: number, pruneBefore: number): void {
    this.#sql.exec('DELETE FROM login_failures WHERE at <= ?', pruneBefore);
    this.#sql.exec('INSERT INTO login_failures (bucket, at) VALUES (?, ?)', bucket, at);
  }
}
