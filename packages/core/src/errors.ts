/**
 * The errors the library throws, and how a program tells them apart.
 *
 * Every public function throws an {@link ImgbuildError} for a failure a user can cause or meet (a
 * system error comes as an {@link InputError}, in words, naming the file); anything else (a
 * `TypeError`, say) is a bug. {@link ImgbuildError.kind | kind} names the class as a word, so a
 * program can tell bad input from a corrupt image from a missing tool without matching messages.
 *
 * The CLI maps them to exit codes: UsageError → 2 (the command line alone is wrong: unknown command,
 * option or built-in name, a flag value out of range), everything else → 1 (what a file, an image or a
 * tool holds, a layout file included).
 * "Bad content" (CorruptError) is kept apart from "I/O failed" so that readers can fall back to a
 * backup copy on the first and pass the second up unchanged.
 *
 * @module
 */

/**
 * What kind of failure an {@link ImgbuildError} is: one word per class, the same for every instance.
 *
 * | kind | class | meaning |
 * |---|---|---|
 * | `usage` | {@link UsageError} | the call or its arguments are malformed (a bad option value, an unknown slot name) |
 * | `layout` | {@link LayoutError} | a layout is not valid, or lacks what the operation needs |
 * | `input` | {@link InputError} | a file given is unusable (missing, unreadable, not a squashfs, too large), or an output may not be replaced |
 * | `corrupt` | {@link CorruptError} | bytes on disk are not what the format requires (no GPT, a bad verity superblock) |
 * | `slot` | {@link SlotError} | a slot transition's precondition does not hold |
 * | `mismatch` | {@link VerityMismatchError} | verification found other bytes than the tree or manifest says |
 * | `tool` | {@link ToolError} | an external tool failed or is missing |
 * | `busy` | {@link ImageBusyError} | another command holds the image's lock past the wait |
 * | `other` | {@link ImgbuildError} | none of the above (the base class itself) |
 *
 * @example
 * ```ts
 * import { ImgbuildError, verifyImage, type ErrorKind } from '@imgbuild/core';
 *
 * const advice: Partial<Record<ErrorKind, string>> = { tool: 'install the missing tool', corrupt: 'rebuild the image' };
 * try {
 *   await verifyImage({ image: 'disk.raw' });
 * } catch (e) {
 *   if (!(e instanceof ImgbuildError)) throw e; // a bug, not a failure
 *   console.error(`${e.file ?? ''}: ${e.message} (${advice[e.kind] ?? e.kind})`);
 * }
 * ```
 */
export type ErrorKind = 'usage' | 'layout' | 'input' | 'corrupt' | 'slot' | 'mismatch' | 'tool' | 'busy' | 'other';

/**
 * The base class of every error the library throws on purpose. Catch it to tell a failure (bad input,
 * a corrupt image, a missing tool: see {@link ErrorKind}) from a bug.
 *
 * @example
 * ```ts
 * import { ImgbuildError, readSlotStatus } from '@imgbuild/core';
 *
 * try {
 *   await readSlotStatus('missing.raw');
 * } catch (e) {
 *   if (e instanceof ImgbuildError) console.log(e.kind, e.file, e.message); // input missing.raw no such file …
 *   else throw e;
 * }
 * ```
 */
export class ImgbuildError extends Error {
  /** The file the problem is about, when there is one; the CLI puts it first in the one-line message. */
  readonly file?: string;
  /** What kind of failure this is ({@link ErrorKind}); the same for every instance of a class. */
  readonly kind: ErrorKind = 'other';
  /**
   * @param message - what went wrong, in words, without the file's name (that is `file`)
   * @param options - `file`: the user's file the problem is about; `cause`: the underlying error
   */
  constructor(message: string, options?: { file?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.file = options?.file;
  }
}

/**
 * The caller asked for something malformed: a bad option value, an unknown slot or built-in name, an
 * empty seed. The CLI exits 2 for it (the command line alone is wrong).
 *
 * @example
 * ```ts
 * import { loadLayout, UsageError } from '@imgbuild/core';
 *
 * await loadLayout('no-such-layout').catch((e) => console.log(e instanceof UsageError)); // true
 * ```
 */
export class UsageError extends ImgbuildError {
  override readonly kind = 'usage' as const;
}

/**
 * A layout (built-in or from a file) is not valid, or lacks what the operation needs (a slot pair, an
 * ESP). Like any bad input file, not a usage error: the command line itself was well formed.
 *
 * @example
 * ```ts
 * import { LayoutError, loadLayout } from '@imgbuild/core';
 *
 * try {
 *   await loadLayout('my-layout.json');
 * } catch (e) {
 *   if (e instanceof LayoutError) console.error(`${e.file}: ${e.message}`); // the layout file is wrong
 * }
 * ```
 */
export class LayoutError extends ImgbuildError {
  override readonly kind = 'layout' as const;
}

/**
 * An input file is unusable (missing, unreadable, not a squashfs, too large for the slot), or an output
 * may not be replaced (it exists and `force` is not given, it is a folder). `file` names it.
 *
 * @example
 * ```ts
 * import { buildImage, InputError } from '@imgbuild/core';
 *
 * const o = { from: 'usr.squashfs', kernel: 'vmlinuz', initrd: 'initrd.img', output: 'disk.raw' };
 * await buildImage(o).catch((e) => {
 *   if (e instanceof InputError) console.error(`${e.file}: ${e.message}`); // disk.raw: output exists (use --force to overwrite)
 * });
 * ```
 */
export class InputError extends ImgbuildError {
  override readonly kind = 'input' as const;
}

/**
 * Bytes on disk are not what the format requires: no GPT, a bad verity superblock, a damaged manifest.
 * Readers that hold a backup (the GPT's second copy) fall back to it on this error, and only on it.
 *
 * @example
 * ```ts
 * import { CorruptError, readSlotStatus } from '@imgbuild/core';
 *
 * await readSlotStatus('zeros.bin').catch((e) => console.log(e instanceof CorruptError)); // true: no GPT
 * ```
 */
export class CorruptError extends ImgbuildError {
  override readonly kind = 'corrupt' as const;
}

/**
 * A slot transition's precondition does not hold: no slot can boot, the slot holds no /usr, a slot
 * that is already the running one.
 *
 * @example
 * ```ts
 * import { applySlotTransition, rollback, SlotError } from '@imgbuild/core';
 *
 * // A fresh image has nothing to roll back to
 * await applySlotTransition('disk.raw', rollback).catch((e) => console.log(e instanceof SlotError));
 * ```
 */
export class SlotError extends ImgbuildError {
  override readonly kind = 'slot' as const;
}

/**
 * Verification found other bytes than the hash tree or the manifest says: a tampered or damaged slot.
 *
 * @example
 * ```ts
 * import { verifyVerity, VerityMismatchError } from '@imgbuild/core';
 *
 * await verifyVerity({ dataPath: 'usr.img', hashPath: 'usr.verity', rootHash }).catch((e) => {
 *   if (e instanceof VerityMismatchError) console.error(`tampered: ${e.message}`);
 * });
 * ```
 */
export class VerityMismatchError extends ImgbuildError {
  override readonly kind = 'mismatch' as const;
}

/**
 * Another command holds the image's lock (`withImageLock`) for longer than we were willing to
 * wait (`IMGBUILD_LOCK_WAIT` seconds, default 60).
 *
 * @example
 * ```ts
 * import { ImageBusyError, updateImage } from '@imgbuild/core';
 *
 * await updateImage({ image: 'disk.raw', from: 'usr-v2.squashfs' }).catch((e) => {
 *   if (e instanceof ImageBusyError) console.error('another update is running; try again later');
 * });
 * ```
 */
export class ImageBusyError extends ImgbuildError {
  override readonly kind = 'busy' as const;
}

/**
 * An external tool (mksquashfs, mtools, osslsigncode, qemu, ...) failed or is missing. The message
 * names the tool and says what to install.
 *
 * @example
 * ```ts
 * import { buildSysext, ToolError } from '@imgbuild/core';
 *
 * await buildSysext({ fromDir: 'ext', name: 'tools', version: '1' }).catch((e) => {
 *   if (e instanceof ToolError) console.error(`install the tool first: ${e.message}`);
 * });
 * ```
 */
export class ToolError extends ImgbuildError {
  override readonly kind = 'tool' as const;
}

/**
 * Words for the errno codes a user can meet, in one place: messages never show raw errno text
 * ("ENOENT: no such file or directory, open ..."), which names neither the user's intent nor, for
 * files staged under a temporary name, the user's path.
 */
const ERRNO_WORDS: Record<string, string> = {
  ENOENT: 'no such file',
  EISDIR: 'is a directory, expected a file',
  ENOTDIR: 'a component of the path is not a directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EEXIST: 'already exists',
  EROFS: 'read-only file system',
  EBUSY: 'in use (busy)',
  ETXTBSY: 'in use (busy)',
  EMFILE: 'too many open files',
  ENAMETOOLONG: 'file name too long',
  ELOOP: 'too many levels of symbolic links',
  EXDEV: 'cannot rename across file systems',
  ENOTEMPTY: 'directory not empty',
  EIO: 'input/output error',
  EINVAL: 'invalid argument for this file',
  EFBIG: 'file too large',
  ENXIO: 'no such device',
  ENODEV: 'no such device',
};

/**
 * An errno code in words, as the library's messages say it; an unknown code → "system error CODE".
 *
 * @example
 * ```ts
 * errnoWords('ENOENT'); // 'no such file'
 * ```
 */
export function errnoWords(code: string | undefined): string | undefined {
  if (!code) return undefined;
  return ERRNO_WORDS[code] ?? `system error ${code}`;
}

/**
 * The errno code of a Node.js system error, or undefined.
 *
 * @example
 * ```ts
 * await readFile('nope').catch((e) => errnoCode(e)); // 'ENOENT'
 * ```
 */
export function errnoCode(e: unknown): string | undefined {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) ? code : undefined;
}

/**
 * A Node.js system error as an InputError naming `file` (the path the user gave), optionally saying
 * what was being done: `cannot open image: no such file`. Anything else is returned unchanged.
 *
 * @example
 * ```ts
 * import { fsError } from '@imgbuild/core';
 *
 * await readFile('site.json').catch((e) => {
 *   throw fsError(e, 'site.json', 'cannot read the site file'); // InputError: cannot read the site file: no such file
 * });
 * ```
 */
export function fsError(e: unknown, file: string | undefined, doing?: string): unknown {
  const code = errnoCode(e);
  if (!code || e instanceof ImgbuildError) return e;
  const words = errnoWords(code)!;
  return new InputError(doing ? `${doing}: ${words}` : words, { file: file ?? (e as NodeJS.ErrnoException).path, cause: e });
}

/**
 * An error about the file the user named as `file`: a system error in words (fsError), an ImgbuildError
 * that names no file yet gets `file` (same class, so the exit code stays). Anything else unchanged.
 *
 * @example
 * ```ts
 * import { aboutFile, readSlotStatus } from '@imgbuild/core';
 *
 * const image = 'disk.raw';
 * await readSlotStatus(image).catch((e) => {
 *   throw aboutFile(e, image); // names disk.raw whatever went wrong inside
 * });
 * ```
 */
export function aboutFile(e: unknown, file: string): unknown {
  if (e instanceof ImgbuildError) return e.file ? e : withFile(e, file);
  return fsError(e, file);
}

/**
 * The same error about another file: same class (so the exit code stays) and message, `file` named.
 * The one place an error is re-made with its own constructor.
 *
 * @example
 * ```ts
 * import { CorruptError, withFile } from '@imgbuild/core';
 *
 * withFile(new CorruptError('no GPT'), 'disk.raw').file; // 'disk.raw'
 * ```
 */
export function withFile(e: ImgbuildError, file: string): ImgbuildError {
  const Ctor = e.constructor as new (message: string, options?: { file?: string; cause?: unknown }) => ImgbuildError;
  return new Ctor(e.message, { file, cause: e.cause ?? e });
}

/**
 * A message with Node's errno text in it ("EACCES: permission denied, open 'x'") in words: a safety net
 * for a message made from a system error's text. Another path named in it stays, the file's goes.
 *
 * @example
 * ```ts
 * import { errnoFree } from '@imgbuild/core';
 *
 * errnoFree("EACCES: permission denied, open 'disk.raw'", 'disk.raw'); // 'permission denied'
 * ```
 */
export function errnoFree(message: string, file?: string): string {
  const known = (code: string) => !errnoWords(code)!.startsWith('system error');
  return message
    .replace(/\b(E[A-Z0-9]{2,}): [^,]*(?:, [a-z]+ '([^']*)'(?: -> '[^']*')?)?/g, (m, code: string, path?: string) =>
      !known(code) ? m : path && path !== file ? `${path}: ${errnoWords(code)}` : errnoWords(code)!,
    )
    .replace(/: (E[A-Z]{3,})\b(?!-)/g, (m, code: string) => (known(code) ? `: ${errnoWords(code)}` : m));
}
