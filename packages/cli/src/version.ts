/** The imgbuild command's version, read from its package.json (dist/version.js sits one folder below it). */
import { readFileSync } from 'node:fs';

export const CLI_VERSION: string = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;
