/**
 * `@imgbuild/core/errors`: the error classes alone, cheap to load (a program's start-up path, a
 * command line parser). The same classes as the root entry's: `instanceof` works across both.
 *
 * @example
 * ```ts
 * import { ImgbuildError, userPathOf } from '@imgbuild/core/errors';
 *
 * function report(e: unknown): number {
 *   if (!(e instanceof ImgbuildError)) throw e;
 *   console.error(`imgbuild: ${e.file ? userPathOf(e.file) + ': ' : ''}${e.message}`);
 *   return e.kind === 'usage' ? 2 : 1;
 * }
 * ```
 *
 * @module errors
 */
export * from '../errors.js';
export { userPathOf } from '../atomic.js';
