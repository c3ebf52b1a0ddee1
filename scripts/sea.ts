/**
 * The runner as a single executable that embeds Node (Node's single executable applications, "SEA"), for lab hosts
 * without Node: a CommonJS bundle of runner/main.ts (Node 24's SEA runs only a CommonJS main), a preparation blob made
 * by `node --experimental-sea-config`, injected with postject into a copy of the very `node` that made the blob (the
 * blob's format is that binary's). Node 24 has no `--build-sea`; when the project moves to a Node that has it, this
 * file is the one place to change.
 *
 * MUST hold: the executable runs with no Node installed (it needs only nmap, prlimit and setpriv, like the bundle);
 * the `.sha256` beside it is in `sha256sum` format (`<hex>  scangate-runner`), so `sha256sum -c` checks it.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, copyFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The fuse Node looks for to know a blob was injected (fixed by Node; see its SEA docs). */
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
const RUNNER_ENTRY = new URL('../runner/main.ts', import.meta.url).pathname;

export interface BuiltSea {
  path: string;
  sha256: string;
  /** `<path>.sha256`, in sha256sum format. */
  hashPath: string;
  bytes: number;
}

/** The hex SHA-256 of a file's bytes. */
export async function sha256File(path: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
}

/**
 * Builds the single executable at `outfile` from the `node` at `nodePath` (default: the Node running this, which
 * must be the one the blob is made with). Intermediate files live in a temp dir that is removed.
 */
export async function buildSea(outfile: string, nodePath = process.execPath): Promise<BuiltSea> {
  // Loaded here, not at the top: `npm start` imports sha256File and needs neither.
  const { build } = await import('esbuild');
  const { inject } = await import('postject');
  const work = await mkdtemp(join(tmpdir(), 'scangate-sea-'));
  try {
    const main = join(work, 'main.cjs');
    await build({
      entryPoints: [RUNNER_ENTRY],
      outfile: main,
      bundle: true,
      platform: 'node',
      target: 'node24',
      format: 'cjs',
      legalComments: 'inline',
      external: ['bufferutil', 'utf-8-validate'],
      logLevel: 'warning',
    });
    const blob = join(work, 'sea.blob');
    const config = join(work, 'sea-config.json');
    await writeFile(config, JSON.stringify({ main, output: blob, disableExperimentalSEAWarning: true }));
    await run(nodePath, ['--experimental-sea-config', config], { cwd: work });
    await rm(outfile, { force: true });
    await copyFile(nodePath, outfile);
    await chmod(outfile, 0o755);
    await inject(outfile, 'NODE_SEA_BLOB', await readFile(blob), { sentinelFuse: SEA_FUSE });
    const sha256 = await sha256File(outfile);
    const hashPath = `${outfile}.sha256`;
    await writeFile(hashPath, `${sha256}  ${basename(outfile)}\n`);
    return { path: outfile, sha256, hashPath, bytes: (await stat(outfile)).size };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
