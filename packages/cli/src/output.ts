/** How the CLI speaks: JSON on stdout for machines, one-line errors on stderr, a progress bar on TTYs. */
// Module paths, not the package index: the index reaches every module of the library, and what a
// module imports is loaded before the first command runs (see scripts/bundle.mjs).
import { userPathOf } from '@imgbuild/core/errors';
import { errnoFree, fsError, ImgbuildError, UsageError } from '@imgbuild/core/errors';
import type { ProgressFn } from '@imgbuild/core';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? '0x' + v.toString(16).padStart(16, '0') : v), 2) + '\n');
}

/**
 * One line: `imgbuild: <file>: <problem>`. The file is the path the user gave (a temporary name is
 * mapped back to it); the library has already put errno codes into words (a stray system error gets
 * them here through the library's fsError); never a stack or a second line.
 */
export function errorLine(e: unknown, subject?: string): string {
  const err = fsError(e, (e as NodeJS.ErrnoException | undefined)?.path ?? subject);
  if (err instanceof ImgbuildError) {
    const file = err.file ? userPathOf(err.file) : undefined;
    const msg = withUserPaths(errnoFree(firstLine(err.message), err.file));
    if (!err.file || !file) return msg;
    return msg.startsWith(file) ? msg : `${file}: ${msg.split(err.file).join(file)}`;
  }
  // Not ours and not a system error: a bug. Its message, without the stack (IMGBUILD_DEBUG=1 shows it).
  return `internal error: ${firstLine((err as Error | undefined)?.message ?? String(e))}`;
}

function firstLine(s: string): string {
  return s.split('\n')[0];
}

/** Every staging name in a message (`dir/.x.raw.tmp-4142-9f3a…`) as the path the user gave. */
function withUserPaths(msg: string): string {
  return msg.replace(/[^\s'"]*\.[^\s'"/]+\.tmp-\d+(?:-[0-9a-f]+)?/g, (p) => userPathOf(p));
}

export function exitCodeFor(e: unknown): number {
  return e instanceof UsageError ? EXIT_USAGE : EXIT_FAILED;
}

/** A progress bar on stderr when it is a terminal and output is not JSON; otherwise nothing. */
export function progressBar(enabled: boolean): ProgressFn & { finish(): void } {
  const on = enabled && process.stderr.isTTY === true;
  let last = 0;
  let drawn = false;
  let start = Date.now();
  let currentPhase: string | undefined;
  const fn = ((done: number, total: number, phase = '') => {
    if (!on) return;
    const now = Date.now();
    if (phase !== currentPhase) {
      // each phase gets its own line and its own rate
      if (drawn) process.stderr.write('\n');
      drawn = false;
      currentPhase = phase;
      start = now;
      last = 0;
    }
    if (now - last < 100 && done < total) return;
    last = now;
    const frac = total > 0 ? Math.min(1, done / total) : 0;
    const width = 30;
    const fill = Math.round(frac * width);
    const secs = (now - start) / 1000;
    const rate = secs > 0 ? done / secs / 1e6 : 0;
    process.stderr.write(`\r${phase.padEnd(12)} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${(frac * 100).toFixed(0).padStart(3)}% ${total > 1 ? `${rate.toFixed(0)} MB/s` : ""} `);
    drawn = true;
  }) as ProgressFn & { finish(): void };
  fn.finish = () => {
    if (drawn) process.stderr.write('\n');
    drawn = false;
  };
  return fn;
}
