#!/usr/bin/env node
/**
 * Bundles the CLI (run by the root `npm run build` after tsc): packages/cli/dist/bin.js and everything
 * it imports (@imgbuild/core, commander, zod, execa, fs-extra, ...) into packages/cli/dist/bundle/,
 * which packages/cli/bin/imgbuild.js runs. One file for the start-up path (bin, program, the commands'
 * words in commands/*.command.ts, output, commander), one lazily loaded chunk per command module, so `imgbuild verity format` parses and runs
 * only what the verity path uses: node resolves one file instead of ~150 and zod's schemas, execa and
 * the image builder are never evaluated.
 *
 * The verity worker is an entry of its own, `dist/bundle/worker.js`, beside the chunks: verity/worker-url.ts
 * names it as `new URL('./worker.js', import.meta.url)`, which in the bundle is the chunk holding that
 * module (tree.ts and sparse.ts, the image digest, both start workers through it).
 * @imgbuild/efi-select stays external: it finds its built selector relative to its own file.
 */
import { build } from 'esbuild';
import { readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const cli = join(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = join(cli, 'dist/bundle');
const versionOf = (pkg) => JSON.stringify(JSON.parse(readFileSync(join(cli, pkg, 'package.json'), 'utf8')).version);
rmSync(outdir, { recursive: true, force: true });
const result = await build({
  absWorkingDir: cli,
  entryPoints: {
    imgbuild: join(cli, 'dist/bin.js'),
    worker: join(cli, '../core/dist/verity/worker.js'),
  },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['@imgbuild/efi-select'],
  // Flat: chunks sit beside worker.js, which worker-url.ts (in one of them) finds relative to itself.
  chunkNames: '[name]-[hash]',
  // Some dependencies are CommonJS (fs-extra, graceful-fs, crc-32): give their require() a real one.
  banner: { js: "import { createRequire as __imgbuildRequire } from 'node:module'; const require = __imgbuildRequire(import.meta.url);" },
  sourcemap: 'linked',
  legalComments: 'none',
  // version.ts reads package.json one folder above its own file, which the bundle does not have
  define: { IMGBUILD_CLI_VERSION: versionOf('.'), IMGBUILD_CORE_VERSION: versionOf('../core') },
  logLevel: 'warning',
  metafile: true,
});
if (process.argv.includes('--analyze')) console.log(await (await import('esbuild')).analyzeMetafile(result.metafile));
