/**
 * A build from a resolved configuration: run the recipe (if any) for the inputs it makes, check that
 * the configuration names everything a build needs, check the declared version against the /usr,
 * build the system extensions into a copy of the root tree, then `buildImage` (or `planBuild`).
 */
import { promises as fsp } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { trackTemporary } from '../atomic.js';
import { userCmdlineArgs } from '../boot/cmdline.js';
import { InputError, ToolError, UsageError } from '../errors.js';
import { execa } from '../exec.js';
import { buildImage, planBuild, type BuildOptions, type BuildResult } from '../image/build.js';
import type { BuildPlan } from '../image/build-plan.js';
import { probeUsrImage, usrVersion } from '../fs/usr-image.js';
import type { ProgressFn } from '../progress.js';
import { buildSysext } from '../sysext/build.js';
import { applyRecipeOutputs, parseRecipeOutput } from './recipe.js';
import { portableConfig } from './resolve.js';
import type { RecordedBuildConfig, ResolvedBuildConfig } from './schema.js';

/**
 * How {@link buildFromConfig} runs: the build file it came from, the folder its paths are relative to.
 *
 * @example
 * ```ts
 * const o: ConfigBuildOptions = { file: 'imgbuild.json', baseDir: '.', force: true };
 * ```
 */
export interface ConfigBuildOptions {
  /** The build file as the user named it (errors name it; the manifest records its base name); none: flags alone. */
  file?: string;
  /** The folder the recipe runs in and the recorded paths are relative to (the build file's). */
  baseDir: string;
  force?: boolean;
  dryRun?: boolean;
  onProgress?: ProgressFn;
  /** Also let the recipe's stderr (its progress) through to ours as it comes; its last line is quoted on failure either way. */
  recipeLog?: boolean;
}

/** Runs the configuration's recipe and fills in what it makes; unchanged without a recipe. */
export async function runRecipe(c: ResolvedBuildConfig, o: Pick<ConfigBuildOptions, 'file' | 'baseDir' | 'recipeLog'>): Promise<ResolvedBuildConfig> {
  const run = c.inputs.recipe?.run;
  if (!run) return c;
  const r = await execa(run[0], run.slice(1), { cwd: o.baseDir, reject: false, stdout: 'pipe', stderr: o.recipeLog ? ['pipe', 'inherit'] : 'pipe' });
  const shown = run.join(' ');
  if ((r as { code?: string }).code === 'ENOENT') throw new InputError(`inputs.recipe: "${run[0]}" not found (run in ${o.baseDir})`, { file: o.file });
  if (r.exitCode !== 0) {
    const why = String(r.stderr ?? '').trim().split('\n').pop();
    throw new ToolError(`inputs.recipe: \`${shown}\` failed (exit ${r.exitCode})${why ? `: ${why}` : ''}`, { file: o.file });
  }
  const outputs = parseRecipeOutput(String(r.stdout), o.baseDir);
  if (!Object.keys(outputs).length) throw new InputError(`inputs.recipe: \`${shown}\` printed none of usr=, root=, kernel=, initrd=, version=`, { file: o.file });
  return applyRecipeOutputs(c, outputs);
}

/** The build's options from a complete configuration; the error names the key (in a file) or the flag (without one). */
export function buildOptionsOf(c: ResolvedBuildConfig, o: Pick<ConfigBuildOptions, 'file' | 'force' | 'onProgress'>): BuildOptions {
  const missing = (key: string, flag: string, what: string) =>
    o.file ? new InputError(`no ${what}: set ${key} (or give ${flag}, or a recipe that makes it)`, { file: o.file }) : new UsageError(`no ${what}: give ${flag} (or write a build file, imgbuild.json)`);
  const i = c.inputs;
  if (i.from && i.fromDir) {
    throw o.file ? new InputError('give one /usr: inputs.from or inputs.fromDir, not both', { file: o.file }) : new UsageError('give exactly one of --from <squashfs> or --from-dir <dir>');
  }
  if (!i.from && !i.fromDir) throw missing('inputs.from or inputs.fromDir', '--from or --from-dir', '/usr');
  if (!i.kernel) throw missing('inputs.kernel', '--kernel', 'kernel');
  if (!i.initrd) throw missing('inputs.initrd', '--initrd', 'initrd');
  if (o.file && c.cmdline) {
    // the same check the build makes, worded for the file (a flag's is a usage error, exit 2)
    try {
      userCmdlineArgs(c.cmdline, 'cmdline', { rootOwned: !!i.rootTree });
    } catch (e) {
      throw new InputError((e as Error).message, { file: o.file });
    }
  }
  if (c.extensions.length && !i.rootTree) throw new InputError("extensions need inputs.rootTree: they go into ROOT's var/lib/extensions/", { file: o.file });
  const s = c.signing;
  if (!!s.key !== !!s.cert || (s.passFile && !s.key)) {
    const onlyPass = s.passFile && !s.key && !s.cert;
    if (!o.file) throw new UsageError(onlyPass ? '--sign-pass-file needs --sign-key and --sign-cert' : 'give both --sign-key and --sign-cert');
    throw new InputError(`signing: ${onlyPass ? 'a password file needs the key and the certificate' : 'give both the key and the certificate'} (signing.key, signing.cert)`, { file: o.file });
  }
  return {
    from: i.from ?? undefined,
    fromDir: i.fromDir ?? undefined,
    kernel: i.kernel,
    initrd: i.initrd,
    arch: c.arch,
    layout: c.layout,
    format: c.outputs.format,
    seed: c.seed ?? undefined,
    cmdline: c.cmdline ?? undefined,
    rootTree: i.rootTree ?? undefined,
    bootStyle: c.bootStyle,
    osRelease: i.osRelease ?? undefined,
    selector: i.selector ?? undefined,
    sign: s.key && s.cert ? { key: s.key, cert: s.cert, passFile: s.passFile ?? undefined } : undefined,
    secureBoot: s.secureBoot,
    imageSha256: c.outputs.imageSha256,
    output: c.outputs.path,
    force: o.force,
    onProgress: o.onProgress,
  };
}

/** `version` against VERSION_ID in the /usr's lib/os-release; an erofs image (unreadable without mounting) is taken on trust. */
export async function checkDeclaredVersion(c: ResolvedBuildConfig, file?: string): Promise<void> {
  if (!c.version) return;
  let found: string | undefined;
  let readable = true;
  if (c.inputs.fromDir) {
    const text = await fsp.readFile(join(c.inputs.fromDir, 'lib/os-release'), 'utf8').catch(() => '');
    found = /^VERSION_ID=["']?([^"'\n]*)["']?$/m.exec(text)?.[1];
  } else if (c.inputs.from) {
    const usr = await probeUsrImage(c.inputs.from);
    readable = usr.fsType === 'squashfs';
    found = await usrVersion(c.inputs.from, usr.fsType);
  }
  if (!readable || found === c.version) return;
  const where = c.inputs.fromDir ?? c.inputs.from;
  throw new InputError(`version "${c.version}", but the /usr (${where}) has ${found === undefined ? 'no VERSION_ID' : `VERSION_ID=${found}`} in lib/os-release`, { file });
}

/**
 * The root tree with the extensions in it: a copy (`cp -a`: owners, modes, device nodes) with each
 * extension built as a DDI into var/lib/extensions/NAME.raw and NAME.roothash (systemd-sysext checks
 * it with dm-verity only with the root hash beside it), and systemd-sysext.service enabled
 * (sysinit.target.wants), which Debian does not do. The copy lives in `scratch`.
 */
async function rootWithExtensions(c: ResolvedBuildConfig, scratch: string): Promise<string> {
  const tree = c.inputs.rootTree!; // buildOptionsOf has checked
  const root = join(scratch, basename(tree)); // the manifest records the tree's folder name
  const cp = await execa('cp', ['-a', '--', tree, root], { reject: false });
  if (cp.exitCode !== 0) throw new ToolError(`cp -a ${tree} failed: ${String(cp.stderr).trim().split('\n').pop()}`, { file: tree });
  const dir = join(root, 'var/lib/extensions');
  await fsp.mkdir(dir, { recursive: true });
  for (const e of c.extensions) {
    await buildSysext({
      fromDir: e.fromDir,
      name: e.name,
      version: e.version,
      osId: e.osId ?? undefined,
      sysextLevel: e.sysextLevel ?? undefined,
      osVersionId: e.osVersionId ?? undefined,
      arch: c.arch,
      fs: e.fs,
      format: 'ddi',
      output: join(dir, `${e.name}.raw`),
    });
  }
  const wants = join(root, 'etc/systemd/system/sysinit.target.wants');
  await fsp.mkdir(wants, { recursive: true });
  await fsp.symlink('/usr/lib/systemd/system/systemd-sysext.service', join(wants, 'systemd-sysext.service')).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'EEXIST') throw e;
  });
  return root;
}

/** The record a manifest keeps of a configuration: the build file's name and the configuration, paths relative to its folder. */
export function recordedConfig(c: ResolvedBuildConfig, o: Pick<ConfigBuildOptions, 'file' | 'baseDir'>): RecordedBuildConfig {
  return { file: o.file ? basename(o.file) : null, config: portableConfig(c, o.baseDir) };
}

/**
 * Builds (or, with dryRun, plans) the image a configuration describes: runs its recipe, builds its
 * extensions into the root tree, then {@link buildImage}; the manifest records the configuration.
 *
 * @example
 * ```ts
 * const { config, dir } = await loadBuildConfig('imgbuild.json');
 * const result = await buildFromConfig(resolveBuildConfig({ file: config, fileDir: dir }), { file: 'imgbuild.json', baseDir: dir });
 * ```
 */
export async function buildFromConfig(config: ResolvedBuildConfig, o: ConfigBuildOptions): Promise<BuildResult | BuildPlan> {
  const c = await runRecipe(config, o);
  const opts = buildOptionsOf(c, o);
  await checkDeclaredVersion(c, o.file);
  if (o.dryRun) return planBuild(opts);
  const buildConfig = recordedConfig(c, o);
  if (!c.extensions.length) return buildImage({ ...opts, buildConfig });
  const scratch = await mkdtemp(join(tmpdir(), 'imgbuild-ext-'));
  const untrack = trackTemporary(scratch);
  try {
    return await buildImage({ ...opts, rootTree: await rootWithExtensions(c, scratch), buildConfig });
  } finally {
    await rm(scratch, { recursive: true, force: true });
    untrack();
  }
}
