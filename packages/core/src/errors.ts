/**
 * Error classes thrown by the library. Every public function throws one of these for a failure a
 * user can cause or meet (a system error comes as InputError, in words, naming the file); anything
 * else is a bug. `kind` tells a program what went wrong without matching messages:
 *
 *   usage    UsageError    the call or its arguments are malformed (bad flag value, unknown slot name)
 *   layout   LayoutError   a layout (built-in or file) is not valid, or lacks what a build needs
 *   input    InputError    a file given is unusable: missing, unreadable, not a squashfs, too large;
 *                          or an output that may not be replaced (exists without --force, a folder)
 *   corrupt  CorruptError  on-disk bytes are not what the format requires (no GPT, bad superblock)
 *   slot     SlotError     a slot transition's precondition does not hold
 *   mismatch VerityMismatchError  verification found other bytes than the tree or manifest says
 *   tool     ToolError     an external tool failed or is missing
 *   busy     ImageBusyError  another command holds the image's lock (lock.ts) past the wait
 *
 * The CLI maps them to exit codes: UsageError → 2 (the command line alone is wrong: unknown command,
 * option or built-in name, a flag value out of range), everything else → 1 (what a file, an image or a
 * tool holds, a layout file included).
 * "Bad content" (CorruptError) is kept apart from "I/O failed" so that readers can fall back to a
 * backup copy on the first and pass the second up unchanged.
 */
export type ErrorKind = 'usage' | 'layout' | 'input' | 'corrupt' | 'slot' | 'mismatch' | 'tool' | 'busy' | 'other';

export class ImgbuildError extends Error {
  /** The file the problem is about, when there is one; the CLI puts it first in the one-line message. */
  readonly file?: string;
  /** What kind of failure this is (see above); the same for every instance of a class. */
  readonly kind: ErrorKind = 'other';
  constructor(message: string, options?: { file?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.file = options?.file;
  }
}

/** The caller asked for something malformed (bad flag value, unknown name). */
export class UsageError extends ImgbuildError {
  override readonly kind: ErrorKind = 'usage';
}

/**
 * A layout (built-in or from a file) is not valid, or lacks what the operation needs (a slot pair, an
 * ESP). Like any bad input file, not a usage error: the command line itself was well formed.
 */
export class LayoutError extends ImgbuildError {
  override readonly kind: ErrorKind = 'layout';
}

/** An input file is unsuitable (missing, unreadable, not a squashfs, too large, ...). */
export class InputError extends ImgbuildError {
  override readonly kind: ErrorKind = 'input';
}

/** On-disk bytes are not what the format requires. */
export class CorruptError extends ImgbuildError {
  override readonly kind: ErrorKind = 'corrupt';
}

/** A slot transition's precondition does not hold. */
export class SlotError extends ImgbuildError {
  override readonly kind: ErrorKind = 'slot';
}

/** Verification found a mismatch; carries where. */
export class VerityMismatchError extends ImgbuildError {
  override readonly kind: ErrorKind = 'mismatch';
}

/** Another command holds the image's lock (lock.ts) for longer than we were willing to wait. */
export class ImageBusyError extends ImgbuildError {
  override readonly kind: ErrorKind = 'busy';
}

/** An external tool failed. */
export class ToolError extends ImgbuildError {
  override readonly kind: ErrorKind = 'tool';
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
export function fsError(e: unknown, file: string | undefined, doing?: string): unknown {
  const code = errnoCode(e);
  if (!code || e instanceof ImgbuildError) return e;
  const words = errnoWords(code)!;
  return new InputError(doing ? `${doing}: ${words}` : words, { file: file ?? (e as NodeJS.ErrnoException).path, cause: e });
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

/**
 * A message with Node's errno text in it ("EACCES: permission denied, open 'x'") in words: a safety net
 * for a message made from a system error's text. Another path named in it stays, the file's goes.
 */
export function errnoFree(message: string, file?: string): string {
  const known = (code: string) => !errnoWords(code)!.startsWith('system error');
  return message
    .replace(/\b(E[A-Z0-9]{2,}): [^,]*(?:, [a-z]+ '([^']*)'(?: -> '[^']*')?)?/g, (m, code: string, path?: string) =>
      !known(code) ? m : path && path !== file ? `${path}: ${errnoWords(code)}` : errnoWords(code)!,
    )
    .replace(/: (E[A-Z]{3,})\b(?!-)/g, (m, code: string) => (known(code) ? `: ${errnoWords(code)}` : m));
}
