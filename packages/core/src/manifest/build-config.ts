/**
 * The build configuration as a build runs with it and a manifest records it (`buildConfig`): the build
 * file's keys (config/schema.ts), every one present, null when unset. Here, in the manifest's room,
 * because the manifest stands on it; the build file itself, and resolving it, are config/'s, on the top
 * floor. Pure data.
 */
import { z } from 'zod';
import { ARCHITECTURES } from '../arch.js';

export const IMAGE_FORMATS = ['raw', 'qemu_uefi'] as const;
export const BOOT_STYLES = ['uki', 'flatcar'] as const;

const maybe = <T extends z.ZodTypeAny>(t: T) => t.nullable();
const str = z.string();

/**
 * The configuration a build runs with: the file, the flags over it, the defaults filled in. Every key
 * is present (an unset one is null); paths as resolved (from the current folder), or, as the manifest records them, relative
 * to the build file's folder (portableConfig).
 */
export const resolvedBuildConfigSchema = z
  .object({
    layout: str,
    arch: z.enum(ARCHITECTURES),
    seed: maybe(str),
    version: maybe(str),
    inputs: z
      .object({
        from: maybe(str),
        fromDir: maybe(str),
        recipe: maybe(z.object({ run: z.array(str).min(1) }).strict()),
        kernel: maybe(str),
        initrd: maybe(str),
        rootTree: maybe(str),
        osRelease: maybe(str),
        selector: maybe(str),
      })
      .strict(),
    cmdline: maybe(str),
    bootStyle: z.enum(BOOT_STYLES),
    extensions: z.array(
      z
        .object({ fromDir: str, name: str, version: str, osId: maybe(str), sysextLevel: maybe(str), osVersionId: maybe(str), fs: z.enum(['squashfs', 'erofs']) })
        .strict(),
    ),
    signing: z.object({ key: maybe(str), cert: maybe(str), passFile: maybe(str), secureBoot: z.boolean() }).strict(),
    outputs: z.object({ format: z.enum(IMAGE_FORMATS), path: str, imageSha256: z.boolean() }).strict(),
  })
  .strict();

/**
 * A configuration with every key present: paths resolved, flags applied, defaults filled in.
 *
 * @example
 * ```ts
 * const r: ResolvedBuildConfig = resolveBuildConfig({ flags: { inputs: { from: 'usr.squashfs' } } });
 * console.log(r.outputs.format, r.outputs.path);
 * ```
 */
export type ResolvedBuildConfig = z.infer<typeof resolvedBuildConfigSchema>;

/** What a manifest records: the build file's name (null: flags alone) and the configuration, its paths relative to that file's folder. */
export const recordedBuildConfigSchema = z.object({ file: z.string().nullable(), config: resolvedBuildConfigSchema }).strict();
export type RecordedBuildConfig = z.infer<typeof recordedBuildConfigSchema>;

