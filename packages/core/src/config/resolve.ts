/**
 * From build file and flags to the configuration a build runs with: the file's relative paths joined
 * to the file's folder as the user named it (`-c examples/imgbuild.json`: `usr` is `examples/usr`), so
 * they still work from the current folder and errors name a path the user recognises; flags, already
 * relative to the current folder, as given; the layers merged (flags win, key by key); the defaults
 * filled in. Pure: no I/O.
 */
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { DEFAULT_ARCHITECTURE, parseArchitecture } from '../arch.js';
import { BUILTIN_LAYOUTS } from '../layout/builtin.js';
import { PATH_KEYS, type BuildConfig, type ResolvedBuildConfig } from './schema.js';

/** The defaults, in one place (the CLI's --help and the README quote them). */
export const CONFIG_DEFAULTS = { layout: 'mini', bootStyle: 'uki', format: 'raw', rawOutput: 'image.raw', bundleOutput: 'image_qemu_uefi', extensionFs: 'squashfs' } as const;

type Obj = Record<string, unknown>;

const isBuiltinLayout = (name: string) => Object.hasOwn(BUILTIN_LAYOUTS, name);

/** A layout is a built-in name, kept as it is, or a file, resolved like any path. */
function resolveLayout(layout: string, baseDir: string): string {
  return isBuiltinLayout(layout) ? layout : under(baseDir, layout);
}

const under = (baseDir: string, p: string) => (isAbsolute(p) ? p : join(baseDir, p));

/** The config with every relative path in it joined to `baseDir` (a build file's folder). */
export function resolveConfigPaths(config: BuildConfig, baseDir: string): BuildConfig {
  const out = structuredClone(config) as Obj;
  for (const [group, key] of PATH_KEYS) {
    const g = out[group] as Obj | undefined;
    if (typeof g?.[key] === 'string') g[key] = under(baseDir, g[key] as string);
  }
  if (typeof out.layout === 'string') out.layout = resolveLayout(out.layout, baseDir);
  for (const e of (out.extensions as Obj[] | undefined) ?? []) e.fromDir = under(baseDir, e.fromDir as string);
  return out as BuildConfig;
}

/** `over` on top of `base`, key by key (objects merge, lists and values replace); an undefined key in `over` keeps `base`'s. */
export function mergeBuildConfigs(base: BuildConfig, over: BuildConfig): BuildConfig {
  const merge = (a: unknown, b: unknown): unknown => {
    if (b === undefined) return a;
    if (isObj(a) && isObj(b)) {
      const out: Obj = { ...a };
      for (const [k, v] of Object.entries(b)) out[k] = merge(a[k], v);
      return out;
    }
    return b;
  };
  return merge(base, over) as BuildConfig;
}

const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * Defaults filled in, every key present (null when unset). Paths must already be resolved
 * (resolveConfigPaths); `baseDir` places the default output (beside the build file, or here without one).
 */
export function completeBuildConfig(c: BuildConfig, baseDir: string): ResolvedBuildConfig {
  const i = c.inputs ?? {};
  const s = c.signing ?? {};
  const format = c.outputs?.format ?? CONFIG_DEFAULTS.format;
  return {
    layout: c.layout ?? CONFIG_DEFAULTS.layout,
    arch: (c.arch && parseArchitecture(c.arch)) || DEFAULT_ARCHITECTURE,
    seed: c.seed ?? null,
    version: c.version ?? null,
    inputs: {
      from: i.from ?? null,
      fromDir: i.fromDir ?? null,
      recipe: i.recipe ?? null,
      kernel: i.kernel ?? null,
      initrd: i.initrd ?? null,
      rootTree: i.rootTree ?? null,
      osRelease: i.osRelease ?? null,
      selector: i.selector ?? null,
    },
    cmdline: c.cmdline || null,
    bootStyle: c.bootStyle ?? CONFIG_DEFAULTS.bootStyle,
    extensions: (c.extensions ?? []).map((e) => ({
      fromDir: e.fromDir,
      name: e.name,
      version: e.version,
      osId: e.osId ?? null,
      sysextLevel: e.sysextLevel ?? null,
      osVersionId: e.osVersionId ?? null,
      fs: e.fs ?? CONFIG_DEFAULTS.extensionFs,
    })),
    signing: { key: s.key ?? null, cert: s.cert ?? null, passFile: s.passFile ?? null, secureBoot: s.secureBoot ?? false },
    outputs: {
      format,
      path: c.outputs?.path ?? join(baseDir, format === 'raw' ? CONFIG_DEFAULTS.rawOutput : CONFIG_DEFAULTS.bundleOutput),
      imageSha256: c.outputs?.imageSha256 ?? false,
    },
  };
}

/**
 * The whole resolution: the file's keys (relative paths joined to `fileDir`, its folder as named),
 * the flags over them (as given: relative to the current folder), the defaults (the default output
 * beside the file, or here without one). The /usr is one choice: flags that name one (from or
 * fromDir) replace the file's, whichever key it used.
 *
 * @example
 * ```ts
 * const { config, dir } = await loadBuildConfig('imgbuild.json');
 * const resolved = resolveBuildConfig({ file: config, fileDir: dir, flags: { outputs: { path: 'out/disk.raw' } } });
 * console.log(resolved.outputs.path, resolved.layout);
 * ```
 */
export function resolveBuildConfig(o: { file?: BuildConfig; fileDir?: string; flags?: BuildConfig }): ResolvedBuildConfig {
  const fileDir = o.fileDir ?? '.';
  const fromFile = o.file ? resolveConfigPaths(o.file, fileDir) : {};
  const flags = o.flags ?? {};
  if ((flags.inputs?.from || flags.inputs?.fromDir) && fromFile.inputs) fromFile.inputs = { ...fromFile.inputs, from: undefined, fromDir: undefined };
  return completeBuildConfig(mergeBuildConfigs(fromFile, flags), o.file ? fileDir : '.');
}

/**
 * The configuration as a manifest records it: every path relative to `baseDir` (the build file's
 * folder), with forward slashes, so the same file built from another checkout records the same.
 * Relative paths (to the current folder) are resolved against it first. The key's password file is
 * left out: how a key is unlocked is no part of the image (a password from $IMGBUILD_SIGN_PASS gives
 * the same image and manifest).
 */
export function portableConfig(c: ResolvedBuildConfig, baseDir: string): ResolvedBuildConfig {
  const rel = (p: string | null): string | null => {
    if (p === null) return p;
    const r = relative(resolve(baseDir), resolve(p));
    return (r === '' ? '.' : r).split(sep).join('/');
  };
  const inputs = Object.fromEntries(Object.entries(c.inputs).map(([k, v]) => [k, k === 'recipe' ? v : rel(v as string | null)])) as ResolvedBuildConfig['inputs'];
  return {
    ...c,
    layout: isBuiltinLayout(c.layout) ? c.layout : rel(c.layout)!,
    inputs,
    extensions: c.extensions.map((e) => ({ ...e, fromDir: rel(e.fromDir)! })),
    signing: { ...c.signing, key: rel(c.signing.key), cert: rel(c.signing.cert), passFile: null },
    outputs: { ...c.outputs, path: rel(c.outputs.path)! },
  };
}
