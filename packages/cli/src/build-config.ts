/**
 * `imgbuild build`'s configuration: ./imgbuild.json (or `-c FILE`) with the flags over its keys. The
 * flag → key table is here, once; reading, checking and resolving are the library's (config/).
 */
import { existsSync } from 'node:fs';
import { BUILD_FILE_NAME, loadBuildConfig, resolveBuildConfig, UsageError, type BuildConfig, type LoadedBuildConfig, type ResolvedBuildConfig } from '@imgbuild/core';

/** The build command's flags that set a key of the build file. */
export interface BuildFlags {
  from?: string;
  fromDir?: string;
  kernel?: string;
  initrd?: string;
  arch?: string;
  layout?: string;
  format?: 'raw' | 'qemu_uefi';
  seed?: string;
  cmdline?: string;
  rootTree?: string;
  bootStyle?: 'uki' | 'flatcar';
  osRelease?: string;
  selector?: string;
  signKey?: string;
  signCert?: string;
  signPassFile?: string;
  secureBoot?: boolean;
  imageSha256?: boolean;
  output?: string;
}

/** The flags as build file keys; a flag not given is left out, so the file's key stands. */
export function flagsAsConfig(f: BuildFlags): BuildConfig {
  return {
    layout: f.layout,
    arch: f.arch,
    seed: f.seed,
    inputs: { from: f.from, fromDir: f.fromDir, kernel: f.kernel, initrd: f.initrd, rootTree: f.rootTree, osRelease: f.osRelease, selector: f.selector },
    cmdline: f.cmdline,
    bootStyle: f.bootStyle,
    signing: { key: f.signKey, cert: f.signCert, passFile: f.signPassFile, secureBoot: f.secureBoot },
    outputs: { format: f.format, path: f.output, imageSha256: f.imageSha256 },
  };
}

export interface BuildConfiguration {
  config: ResolvedBuildConfig;
  /** The build file read, if any. */
  loaded?: LoadedBuildConfig;
}

/**
 * `-c FILE`, else ./imgbuild.json when it exists, else the flags alone (which must then name the
 * inputs: a bare `imgbuild build` in a folder without a build file is a usage error).
 */
export async function buildConfiguration(flags: BuildFlags & { config?: string; printConfig?: boolean }): Promise<BuildConfiguration> {
  const file = flags.config ?? (existsSync(BUILD_FILE_NAME) ? BUILD_FILE_NAME : undefined);
  if (!file && !flags.printConfig && !flags.from && !flags.fromDir && !flags.kernel && !flags.initrd) {
    throw new UsageError(`no ${BUILD_FILE_NAME} here: write one (see examples/imgbuild.json), give -c FILE, or give the inputs as flags (--from or --from-dir, --kernel, --initrd)`);
  }
  const loaded = file ? await loadBuildConfig(file) : undefined;
  return { config: resolveBuildConfig({ file: loaded?.config, fileDir: loaded?.dir, flags: flagsAsConfig(flags) }), loaded };
}
