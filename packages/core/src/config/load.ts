/** Reading a build file: its text, parsed and checked; the folder its relative paths start from. */
import { promises as fsp } from 'node:fs';
import { dirname } from 'node:path';
import { fsError, InputError } from '../errors.js';
import { parseBuildConfigText } from './parse.js';
import type { BuildConfig } from './schema.js';

/**
 * The name `imgbuild build` looks for in the current folder.
 *
 * @example
 * ```ts
 * const { config } = await loadBuildConfig(BUILD_FILE_NAME);
 * ```
 */
export const BUILD_FILE_NAME = 'imgbuild.json';

/**
 * A build file as read: its keys, and where it was found (relative paths in it are joined to `dir`).
 *
 * @example
 * ```ts
 * const loaded: LoadedBuildConfig = await loadBuildConfig('examples/imgbuild.json');
 * const c = resolveBuildConfig({ file: loaded.config, fileDir: loaded.dir });
 * ```
 */
export interface LoadedBuildConfig {
  config: BuildConfig;
  /** The path as given (errors name it so). */
  file: string;
  /** The file's folder as named (`.` for `imgbuild.json`): its relative paths are joined to it. */
  dir: string;
}

/**
 * Reads and checks a build file. InputError naming `file` when it is missing, unreadable, not JSON or
 * not valid; the message names the key path and suggests the nearest valid key for a typo.
 *
 * @example
 * ```ts
 * const { config, dir } = await loadBuildConfig('imgbuild.json');
 * console.log(config.layout, dir);
 * ```
 */
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
