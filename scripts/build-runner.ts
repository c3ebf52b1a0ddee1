/**
 * `npm run build:runner`: bundles the runner daemon into one ESM file (dist/scangate-runner.mjs) that needs only
 * Node ≥ 22 and nmap on the lab host, and builds the single executable that embeds Node (dist/scangate-runner, with
 * dist/scangate-runner.sha256; scripts/sea.ts) for hosts without Node. Given a path, builds only the bundle, there.
 */
import { build } from 'esbuild';
import { buildSea } from './sea.ts';

const outfile = process.argv[2] ?? 'dist/scangate-runner.mjs';
const result = await build({
  entryPoints: [new URL('../runner/main.ts', import.meta.url).pathname],
  outfile,
  bundle: true,
  platform: 'node',
  target: 'node22',
  format: 'esm',
  minify: false,
  legalComments: 'inline',
  // ws loads these native speed-ups if present; the runner does without them.
  external: ['bufferutil', 'utf-8-validate'],
  // CommonJS dependencies inside an ESM bundle still call require() for Node built-ins.
  banner: {
    js: "import { createRequire as __scangateRequire } from 'node:module'; const require = __scangateRequire(import.meta.url);",
  },
  metafile: true,
  logLevel: 'warning',
});
const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
console.log(`${outfile}: ${(bytes / 1024).toFixed(0)} KiB`);

if (process.argv[2] === undefined) {
  const started = Date.now();
  const sea = await buildSea('dist/scangate-runner');
  console.log(
    `${sea.path}: ${(sea.bytes / 2 ** 20).toFixed(0)} MiB, single executable with Node ${process.versions.node}, ` +
      `sha256 ${sea.sha256} (${sea.hashPath}), ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
}
