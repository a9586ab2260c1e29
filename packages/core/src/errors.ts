/**
 * Error classes thrown by the library. The CLI maps them to exit codes: UsageError → 2, everything
 * else → 1. "Bad content" (CorruptError) is kept apart from "I/O failed" so that readers can fall back
 * to a backup copy on the first and pass the second up unchanged.
 */
export class ImgbuildError extends Error {
  /** The file the problem is about, when there is one; the CLI puts it first in the one-line message. */
  readonly file?: string;
  constructor(message: string, options?: { file?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.file = options?.file;
  }
}

/** The caller asked for something malformed (bad flag value, unknown name). */
export class UsageError extends ImgbuildError {}

/** On-disk bytes are not what the format requires. */
export class CorruptError extends ImgbuildError {}

/** A layout (built-in or from a file) is not valid. */
export class LayoutError extends ImgbuildError {}

/** An input file is unsuitable (not a squashfs, too large, ...). */
export class InputError extends ImgbuildError {}

/** A slot transition's precondition does not hold. */
export class SlotError extends ImgbuildError {}

/** Verification found a mismatch; carries where. */
export class VerityMismatchError extends ImgbuildError {}

/** Another command holds the image's lock (lock.ts) for longer than we were willing to wait. */
export class ImageBusyError extends ImgbuildError {}

/** An external tool failed. */
export class ToolError extends ImgbuildError {}

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

/** `ENOENT` → "no such file"; an unknown code → "system error CODE". */
export function errnoWords(code: string | undefined): string | undefined {
  if (!code) return undefined;
  return ERRNO_WORDS[code] ?? `system error ${code}`;
}

/** The errno code of a Node.js system error, or undefined. */
export function errnoCode(e: unknown): string | undefined {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) ? code : undefined;
}

/**
 * A Node.js system error as an InputError naming `file` (the path the user gave), optionally saying
 * what was being done: `cannot open image: no such file`. Anything else is returned unchanged.
 */
export function fsError(e: unknown, file: string, doing?: string): unknown {
  const code = errnoCode(e);
  if (!code || e instanceof ImgbuildError) return e;
  const words = errnoWords(code)!;
  return new InputError(doing ? `${doing}: ${words}` : words, { file, cause: e });
}

/**
 * An error about the file the user named as `file`: a system error in words (fsError), an ImgbuildError
 * that names no file yet gets `file` (same class, so the exit code stays). Anything else unchanged.
 */
export function aboutFile(e: unknown, file: string): unknown {
  if (e instanceof ImgbuildError) return e.file ? e : withFile(e, file);
  return fsError(e, file);
}

/**
 * The same error about another file: same class (so the exit code stays) and message, `file` named.
 * The one place an error is re-made with its own constructor.
 */
export function withFile(e: ImgbuildError, file: string): ImgbuildError {
  const Ctor = e.constructor as new (message: string, options?: { file?: string; cause?: unknown }) => ImgbuildError;
  return new Ctor(e.message, { file, cause: e.cause ?? e });
}
