/** Shared helpers for integration tests: run the built CLI and the reference tools, temp folders. */
import { execa, type Options } from 'execa';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const CLI = join(ROOT, 'packages/cli/dist/bin.js');

/** Runs `imgbuild ...args`; never throws on a non-zero exit, so tests can assert on it. */
export function imgbuild(args: string[], opts: Options = {}) {
  return execa('node', [CLI, ...args], { reject: false, ...opts });
}

/** Runs a reference tool; throws (with its stderr) when it fails unless reject:false. */
export function tool(cmd: string, args: string[], opts: Options = {}) {
  return execa(cmd, args, opts);
}

/** A temporary folder removed after the test file finishes. */
export function tempDir(prefix = 'imgbuild-test-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  afterAll(() => rmSync(d, { recursive: true, force: true }));
  return d;
}
