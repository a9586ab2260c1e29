/**
 * The imgbuild command's version, from its package.json: put in by the bundler (the bundle lives in
 * dist/bundle/, where no package.json is one folder up), else read beside dist/version.js.
 */
import { readFileSync } from 'node:fs';

declare const IMGBUILD_CLI_VERSION: string | undefined;

export const CLI_VERSION: string =
  typeof IMGBUILD_CLI_VERSION === 'string' ? IMGBUILD_CLI_VERSION : JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;
