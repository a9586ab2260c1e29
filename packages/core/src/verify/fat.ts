/**
 * The part of a FAT32 ESP that no file write changes: the reserved sectors (boot sector with the
 * geometry, volume id and label; its backup; boot code), except the FSInfo sector, whose free-cluster
 * count and next-free hint mtools rewrites on every file write. The ranges are read from the boot
 * sector itself, which is part of the digest, so a changed pointer changes the digest too.
 *
 * One byte of the boot sector is state too: Linux's vfat sets the volume's dirty bit there when it
 * mounts the ESP read-write (the example OS does, for systemd-sysupdate's UKIs) and clears it only on a
 * clean unmount, so a power cut leaves it set for good. It is hashed as 0 (what mkfs writes, so digests
 * recorded before are unchanged).
 */
import { createHash } from 'node:crypto';
import type { ByteRange } from '../manifest/manifest.js';
import { readBytes } from './digest.js';

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

/** The state byte's offset in the boot sector: BS_Reserved1 after FAT32's extended BPB (sectors per FAT 16 = 0), else FAT12/16's. */
function stateByteOffset(bootSector: Buffer): number {
  return bootSector.readUInt16LE(22) === 0 ? 0x41 : 0x25;
}

export async function fatBootArea(image: string, espOffset: number): Promise<{ sha256: string; bytes: number }> {
  const h = createHash('sha256');
  let bytes = 0;
  for (const [offset, length] of await fatBootAreaRanges(image, espOffset)) {
    const b = await readBytes(image, offset, length);
    if (offset === espOffset) b[stateByteOffset(b)] = 0;
    h.update(b);
    bytes += b.length;
  }
  return { sha256: h.digest('hex'), bytes };
}
