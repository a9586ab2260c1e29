/**
 * imgbuild's version, read from this package's package.json (dist/version.js sits one folder below
 * it), so a release bumps one file and the manifest's `tool` field follows.
 */
import { readFileSync } from 'node:fs';

export const VERSION: string = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;

/** The manifest's `tool` field: which imgbuild wrote it. */
export const TOOL = `imgbuild ${VERSION}`;
