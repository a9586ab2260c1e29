/**
 * imgbuild's version, from this package's package.json, so a release bumps one file and the manifest's
 * `tool` field follows. The CLI's bundler puts it in (the bundle has no package.json one folder up);
 * otherwise it is read beside dist/version.js.
 */
import { readFileSync } from 'node:fs';

declare const IMGBUILD_CORE_VERSION: string | undefined;

/**
 * This package's version.
 *
 * @example
 * ```ts
 * console.log(`@imgbuild/core ${VERSION}`);
 * ```
 */
export const VERSION: string =
  typeof IMGBUILD_CORE_VERSION === 'string' ? IMGBUILD_CORE_VERSION : JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;

/** The manifest's `tool` field: which imgbuild wrote it. */
export const TOOL = `imgbuild ${VERSION}`;
