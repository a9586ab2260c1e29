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

/** An external tool failed. */
export class ToolError extends ImgbuildError {}
