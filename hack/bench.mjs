#!/usr/bin/env node
/**
 * `npm run bench`: runs every hack/bench/*.mjs module in name order (or only those whose name
 * contains one of the arguments: `node hack/bench.mjs verity`). Add a section by dropping a module
 * there exporting `title` and `async run(ctx)`; ctx (below) gives a temp folder removed afterwards,
 * the built CLI, and timing helpers. Nothing here is part of the test suite.
 * BENCH_CLI=path runs another built CLI in place of packages/cli/bin/imgbuild.js (e.g. a copy of an
 * older dist/bundle, to put numbers before and after a change side by side).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, hostname, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = process.env.BENCH_CLI ?? join(ROOT, 'packages/cli/bin/imgbuild.js'); // runs the esbuild bundle
const filters = process.argv.slice(2);

/** Runs a command, returns wall seconds; throws with its stderr when it fails. */
function timeRun(cmd, args, opts = {}) {
  const t = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 26, ...opts });
  const secs = Number(process.hrtime.bigint() - t) / 1e9;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return { secs, stdout: r.stdout, stderr: r.stderr };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const modules = readdirSync(join(ROOT, 'hack/bench'))
  .filter((f) => f.endsWith('.mjs'))
  .sort()
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)));

console.log(`imgbuild bench ${new Date().toISOString()} on ${hostname()}: ${cpus()[0]?.model ?? '?'} x${availableParallelism()}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, node ${process.version}`);
let failed = false;
for (const f of modules) {
  const mod = await import(pathToFileURL(join(ROOT, 'hack/bench', f)).href);
  const dir = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), `imgbuild-bench-${f.replace(/\.mjs$/, '')}-`));
  console.log(`\n## ${mod.title ?? f}`);
  try {
    await mod.run({ root: ROOT, cli: CLI, dir, timeRun, median, log: (...a) => console.log(...a) });
  } catch (e) {
    failed = true;
    console.error(`bench ${f} failed: ${e.stack ?? e}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
process.exitCode = failed ? 1 : 0;
