/** How the CLI speaks: JSON on stdout for machines, one-line errors on stderr, a progress bar on TTYs. */
import { ImgbuildError, UsageError, type ProgressFn } from '@imgbuild/core';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? '0x' + v.toString(16).padStart(16, '0') : v), 2) + '\n');
}

/** One line: `imgbuild: <file>: <problem>`. */
export function errorLine(e: unknown): string {
  if (e instanceof ImgbuildError) {
    const msg = e.message.split('\n')[0];
    return e.file && !msg.startsWith(e.file) ? `${e.file}: ${msg}` : msg;
  }
  const err = e as NodeJS.ErrnoException;
  if (err && err.code && err.path) return `${err.path}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`;
  return err?.message?.split('\n')[0] ?? String(e);
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
