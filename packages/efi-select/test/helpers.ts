/** Shared by the efi-select tests: the built host binary, the CLI, temp folders. */
import { hostSelectPath } from '@imgbuild/efi-select';
import { execa } from 'execa';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll } from 'vitest';

export const PACKAGE = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const ROOT = resolve(PACKAGE, '../..');
export const CLI = join(ROOT, 'packages/cli/dist/bin.js');
export const HOST = hostSelectPath();

/** Builds the selector once when `npm run build` has not (a second or so). */
export function needBuild(): void {
  beforeAll(async () => {
    if (!existsSync(HOST)) await execa('bash', [join(PACKAGE, 'build.sh')]);
  });
}

export function imgbuild(args: string[]) {
  return execa('node', [CLI, ...args], { reject: false });
}

export function selectHost(args: string[]) {
  return execa(HOST, args, { reject: false, maxBuffer: 64 * 1024 * 1024 });
}

export function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  afterAll(() => rmSync(d, { recursive: true, force: true }));
  return d;
}
