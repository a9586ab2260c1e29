/**
 * Which read-only filesystem an image holds, told from its first bytes, and that filesystem's
 * superblock checked against the image's length. Pure: bytes in, description out.
 */
import { CorruptError } from '../errors.js';
import { decodeErofsSuperblock, EROFS_MAGIC, EROFS_SUPER_OFFSET, type ErofsSuperblock } from './erofs.js';
import { decodeSquashfsSuperblock, SQUASHFS_MAGIC, type SquashfsSuperblock } from './squashfs.js';

export type FilesystemInfo =
  | { type: 'squashfs'; bytesUsed: number; squashfs: SquashfsSuperblock }
  | { type: 'erofs'; bytesUsed: number; erofs: ErofsSuperblock };

/** Bytes of an image's start that `detectFilesystem` may need: an erofs checksum covers a whole block of up to 64 KiB. */
export const FILESYSTEM_HEAD_BYTES = 64 * 1024;

/** The first bytes in hex, so a refusal shows what the file is instead (an ext4, a gzip, a zero-filled disk...). */
function startsWith(head: Uint8Array): string {
  if (head.length === 0) return 'is empty';
  return `starts with ${Buffer.from(head.subarray(0, 8)).toString('hex').replace(/(..)(?!$)/g, '$1 ')}`;
}

/**
 * Recognises squashfs (magic "hsqs" at 0) or erofs (0xE0F5E1E2 at 1024) in `head`, the first bytes
 * of an image of `fileSize` bytes, and validates its superblock. CorruptError naming `file` otherwise.
 */
export function detectFilesystem(head: Uint8Array, fileSize: number, file?: string): FilesystemInfo {
  const b = Buffer.from(head.buffer, head.byteOffset, head.length);
  if (b.length >= 4 && b.toString('latin1', 0, 4) === SQUASHFS_MAGIC) {
    const squashfs = decodeSquashfsSuperblock(b, fileSize, file);
    return { type: 'squashfs', bytesUsed: squashfs.bytesUsed, squashfs };
  }
  if (b.length >= EROFS_SUPER_OFFSET + 4 && b.readUInt32LE(EROFS_SUPER_OFFSET) === EROFS_MAGIC) {
    const erofs = decodeErofsSuperblock(b, fileSize, file);
    return { type: 'erofs', bytesUsed: erofs.bytesUsed, erofs };
  }
  throw new CorruptError(`not a squashfs or erofs image (${startsWith(b)})`, { file });
}
