/**
 * The part of a FAT32 ESP that no file write changes: the reserved sectors (boot sector with the
 * geometry, volume id and label; its backup; boot code), except the FSInfo sector, whose free-cluster
 * count and next-free hint mtools rewrites on every file write. The ranges are read from the boot
 * sector itself, which is part of the digest, so a changed pointer changes the digest too.
 */
import type { ByteRange } from '../manifest/manifest.js';
import { digestRanges, readBytes } from './digest.js';

const SECTOR = 512;
/** mkfs.vfat writes 32; anything far beyond is a damaged boot sector, and the digest fails anyway. */
const MAX_RESERVED = 4096;

export async function fatBootAreaRanges(image: string, espOffset: number): Promise<ByteRange[]> {
  const b = await readBytes(image, espOffset, SECTOR);
  const reserved = Math.min(Math.max(b.readUInt16LE(14), 1), MAX_RESERVED);
  const fsInfo = b.readUInt16LE(48);
  const out: ByteRange[] = [];
  for (let s = 0; s < reserved; s++) if (s !== fsInfo || s === 0) out.push([espOffset + s * SECTOR, SECTOR]);
  return out;
}

export async function fatBootArea(image: string, espOffset: number): Promise<{ sha256: string; bytes: number }> {
  return digestRanges(image, await fatBootAreaRanges(image, espOffset));
}
