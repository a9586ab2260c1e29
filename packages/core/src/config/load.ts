/** Reading a build file: its text, parsed and checked; the folder its relative paths start from. */
import { promises as fsp } from 'node:fs';
import { dirname } from 'node:path';
import { fsError, InputError } from '../errors.js';
import { parseBuildConfigText } from './parse.js';
import type { BuildConfig } from './schema.js';

/** The name `imgbuild build` looks for in the current folder. */
export const BUILD_FILE_NAME = 'imgbuild.json';

export interface LoadedBuildConfig {
  config: BuildConfig;
  /** The path as given (errors name it so). */
  file: string;
  /** The file's folder as named (`.` for `imgbuild.json`): its relative paths are joined to it. */
  dir: string;
}

/** Reads and checks a build file. InputError naming `file` when it is missing, unreadable, not JSON or not valid. */
export async function loadBuildConfig(file: string): Promise<LoadedBuildConfig> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new InputError('no such build file', { file });
    throw fsError(e, file, 'cannot read the build file');
  }
  return { config: parseBuildConfigText(text, file), file, dir: dirname(file) };
}
