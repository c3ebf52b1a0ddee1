import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from '../../scripts/stack.ts';

/** The pinned MCP Inspector 2.12.0's launcher (a devDependency, so it runs offline). */
export const INSPECTOR = join(
  ROOT,
  'node_modules',
  '@modelcontextprotocol',
  'inspector',
  'clients',
  'launcher',
  'build',
  'index.js',
);

/**
 * The Inspector in CLI mode against `${edge}/mcp` with a bearer token; never throws, so a test sees the exit code
 * and both streams of a failure too. Its catalog file goes in `stateDir` (a test's own directory).
 */
export function inspector(
  edge: string,
  token: string,
  stateDir: string,
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [INSPECTOR, '--cli', `${edge}/mcp`, '--transport', 'http', '--header', `Authorization: Bearer ${token}`, ...args],
      { env: { ...process.env, MCP_CATALOG_PATH: join(stateDir, 'inspector-catalog.json') }, timeout: 120_000 },
      (error, stdout, stderr) =>
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr }),
    );
  });
}
