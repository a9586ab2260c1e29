/**
 * The build file, `imgbuild.json`: one image described completely, as a zod schema. It is the one
 * source of truth for the file's parser (parse.ts) and the JSON Schema editors validate against
 * (packages/core/schemas/build-config.schema.json, by `npm run schemas`). The resolved form, which the
 * manifest records, is manifest/build-config.ts; a test keeps the two vocabularies one.
 *
 * JSON, not YAML or TOML: every other file imgbuild reads or writes (layouts, manifests, `--json`
 * outputs) is JSON checked by zod with a published JSON Schema, so the build file gets the same
 * validation, the same error wording and editor completion through `"$schema"`, without a new parser
 * or dependency.
 *
 * Every object is strict: a typo is an error naming the nearest valid key, never a silently ignored
 * setting. Pure data; no I/O.
 */
import { z } from 'zod';
import { ARCHITECTURE_NAMES } from '../arch.js';
import { BOOT_STYLES, IMAGE_FORMATS } from '../manifest/build-config.js';

// The resolved form (every key present) is what a manifest records: it lives in the manifest's room.
export * from '../manifest/build-config.js';

const text = (what: string) => z.string({ invalid_type_error: `expected ${what}`, required_error: `expected ${what}` }).min(1, { message: `expected ${what}, not an empty string` }).describe(what);
const path = (what: string) => text(`a path (${what})`).describe(`${what}; relative to the build file's folder`);
const bool = (what: string) => z.boolean({ invalid_type_error: `expected true or false (${what})` }).describe(what);
const choice = <T extends string>(values: readonly [T, ...T[]], what: string) =>
  z.enum(values, { errorMap: () => ({ message: `expected ${values.map((v) => JSON.stringify(v)).join(' or ')} (${what})` }) }).describe(what);


/** A program that makes the inputs: its last lines of stdout are `usr=`, `root=`, `kernel=`, `initrd=`, `version=`. */
export const recipeSchema = z
  .object({
    run: z
      .array(text('a word of the command'), { invalid_type_error: 'expected the command as a list of words, e.g. ["bash", "os/debian/build.sh", "--version", "1"]' })
      .min(1, { message: 'expected the command as a non-empty list of words' })
      .describe("the command, run in the build file's folder; its last lines of stdout say usr=, root=, kernel=, initrd=, version= (each optional)"),
  })
  .strict();

export const extensionSchema = z
  .object({
    fromDir: path('the folder holding usr/ (and opt/)'),
    name: text('the extension name'),
    version: text('the extension version'),
    osId: text('os-release ID= of the host, or _any').optional(),
    sysextLevel: text('SYSEXT_LEVEL= the host must have').optional(),
    osVersionId: text('VERSION_ID= the host must have').optional(),
    fs: choice(['squashfs', 'erofs'], 'the filesystem in the extension').optional(),
  })
  .strict()
  .describe("a system extension, built (a DDI with its .roothash) into ROOT's var/lib/extensions/ and merged by systemd-sysext at boot");

const inputsSchema = z
  .object({
    from: path('the /usr filesystem image, squashfs or erofs').optional(),
    fromDir: path('a /usr tree, packed with mksquashfs').optional(),
    recipe: recipeSchema.optional(),
    kernel: path('the kernel image').optional(),
    initrd: path("the initramfs of slot A's UKI").optional(),
    rootTree: path("the tree formatted as the layout's ROOT (ext4): /etc, /var, an empty usr/").optional(),
    osRelease: path("the os-release embedded in slot A's UKI").optional(),
    selector: path('the UEFI slot selector').optional(),
  })
  .strict();

const signingSchema = z
  .object({
    key: path('the signing key (PEM)').optional(),
    cert: path('its certificate (PEM)').optional(),
    passFile: path("a file whose first line is the key's password").optional(),
    secureBoot: bool("qemu_uefi: enroll the certificate in the bundle's firmware").optional(),
  })
  .strict();

const outputsSchema = z
  .object({
    format: choice(IMAGE_FORMATS, 'the output format').optional(),
    path: path('the image (raw) or folder (qemu_uefi)').optional(),
    imageSha256: bool('also record the sha256 of the whole raw image').optional(),
  })
  .strict();

/** The file as written: every key optional (flags and defaults fill the rest). */
export const buildConfigSchema = z
  .object({
    $schema: z.string().optional().describe('the JSON Schema of this file, for editors'),
    layout: text('a built-in layout name or a layout file').optional(),
    arch: choice(ARCHITECTURE_NAMES as [string, ...string[]], 'the architecture').optional(),
    seed: text('the seed of every GUID, UUID and salt').optional(),
    version: text("the image's version: VERSION_ID in the /usr's os-release").optional(),
    inputs: inputsSchema.optional(),
    cmdline: z.string({ invalid_type_error: 'expected the extra kernel command line as one string' }).describe('extra kernel command line arguments').optional(),
    bootStyle: choice(BOOT_STYLES, 'the boot files').optional(),
    extensions: z.array(extensionSchema, { invalid_type_error: 'expected a list of extensions' }).optional(),
    signing: signingSchema.optional(),
    outputs: outputsSchema.optional(),
  })
  .strict();

/**
 * A build file's keys as written (every key optional).
 *
 * @example
 * ```ts
 * const c: BuildConfig = { layout: 'mini', inputs: { from: 'usr.squashfs', kernel: 'vmlinuz', initrd: 'initrd.img' }, outputs: { format: 'raw', path: 'disk.raw' } };
 * ```
 */
export type BuildConfig = z.infer<typeof buildConfigSchema>;
export type RecipeConfig = z.infer<typeof recipeSchema>;
export type ExtensionConfig = z.infer<typeof extensionSchema>;

/** The keys that hold paths (resolved against the file's folder), as key paths. */
export const PATH_KEYS = [
  ['inputs', 'from'],
  ['inputs', 'fromDir'],
  ['inputs', 'kernel'],
  ['inputs', 'initrd'],
  ['inputs', 'rootTree'],
  ['inputs', 'osRelease'],
  ['inputs', 'selector'],
  ['signing', 'key'],
  ['signing', 'cert'],
  ['signing', 'passFile'],
  ['outputs', 'path'],
] as const;
