/**
 * Logs: one JSON object per line on stdout, for journald and log shippers. Secrets never appear: fields that
 * name a token or credential are replaced, and any registered secret is scrubbed from every string.
 */
export type Level = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  log(level: Level, event: string, fields?: Record<string, unknown>): void;
  /** Registers a value that must never be written, such as the runner token. */
  secret(value: string): void;
}

const SECRET_KEY = /token|authorization|secret|password/i;

export function createLogger(write: (line: string) => void = (line) => process.stdout.write(line)): Logger {
  const secrets: string[] = [];
  const scrub = (value: unknown): unknown => {
    if (typeof value === 'string') return secrets.reduce((s, secret) => s.split(secret).join('[redacted]'), value);
    if (Array.isArray(value)) return value.map(scrub);
    if (value && typeof value === 'object') {
      return Object.fromEntries(
        Object.entries(value).map(([k, v]) => [k, SECRET_KEY.test(k) ? '[redacted]' : scrub(v)]),
      );
    }
    return value;
  };
  return {
    log(level, event, fields = {}) {
      const entry = { ts: new Date().toISOString(), level, event, ...(scrub(fields) as Record<string, unknown>) };
      write(`${JSON.stringify(entry)}\n`);
    },
    secret(value) {
      if (value.length > 0) secrets.push(value);
    },
  };
}
