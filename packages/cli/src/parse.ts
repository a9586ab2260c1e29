/**
 * Parsers for flag values, given to commander's `.option(flags, description, parser)`: a bad value is
 * a UsageError (exit 2) naming the flag and the value, before any command runs.
 */
import { UsageError } from '@imgbuild/core/errors';

/** An integer flag in [min, max]: `--tries must be an integer 0-15, got "x"`. */
export function integer(flag: string, range: { min?: number; max?: number } = {}): (value: string) => number {
  const min = range.min ?? 0;
  const max = range.max;
  const what = max !== undefined ? `an integer ${min}-${max}` : min === 0 ? 'a non-negative integer' : `an integer, at least ${min}`;
  return (value: string) => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new UsageError(`${flag} must be ${what}, got "${value}"`);
    if (n < min) throw new UsageError(`${flag} must be at least ${min}, got "${value}"`);
    if (max !== undefined && n > max) throw new UsageError(`${flag} must be ${what}, got "${value}"`);
    return n;
  };
}

/** A positive number, fractions allowed (seconds, MiB). */
export function positive(flag: string): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new UsageError(`${flag} must be a positive number, got "${value}"`);
    return n;
  };
}

/** A 0/1 flag such as `--successful`. */
export function bit(flag: string): (value: string) => boolean {
  return (value: string) => {
    if (value !== '0' && value !== '1') throw new UsageError(`${flag} must be 0 or 1, got "${value}"`);
    return value === '1';
  };
}
