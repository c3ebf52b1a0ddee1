/**
 * The runner version this tree builds. The edge built from the same tree serves this runner (GET /install/runner)
 * and tells runners that say an older version in their hello (a `runner.update_available` frame, the dashboard).
 */
export const RUNNER_VERSION = '0.1.0';

/** The R2 key of the runner executable an edge of this build serves; `${key}.sha256` holds its sha256sum line. */
export const RUNNER_DIST_KEY = `runner/${RUNNER_VERSION}/linux-x64/scangate-runner`;

/**
 * Orders dotted versions part by part ("0.10.0" after "0.9.2"): numeric parts as numbers, any other part as text,
 * a missing part as 0. Negative when `a` is older.
 */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.');
  const pb = b.split('.');
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? '0';
    const y = pb[i] ?? '0';
    const nx = /^\d+$/.test(x) ? Number(x) : Number.NaN;
    const ny = /^\d+$/.test(y) ? Number(y) : Number.NaN;
    const order = Number.isNaN(nx) || Number.isNaN(ny) ? x.localeCompare(y) : nx - ny;
    if (order !== 0) return Math.sign(order);
  }
  return 0;
}

/** Whether a runner saying `version` is older than `latest` (an unknown version is not called outdated). */
export function isOutdated(version: string | null | undefined, latest: string = RUNNER_VERSION): boolean {
  return typeof version === 'string' && compareVersions(version, latest) < 0;
}

/** Parses a `sha256sum` line (`<64 hex>  name`) or a bare hash; null if it holds no SHA-256. */
export function parseSha256Line(text: string): string | null {
  const hex = /^([0-9a-f]{64})(?:\s|$)/i.exec(text.trim())?.[1];
  return hex ? hex.toLowerCase() : null;
}
