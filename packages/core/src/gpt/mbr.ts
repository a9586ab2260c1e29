/** Pure codec for the protective MBR that guards a GPT disk from MBR-only tools. No I/O. */
import { CorruptError } from '../errors.js';

export const MBR_TYPE_GPT_PROTECTIVE = 0xee;

/**
 * Encodes the protective MBR for a disk of `totalSectors` logical sectors into `sectorSize` bytes.
 *
 * @example
 * ```ts
 * await storage.writeAt(0, encodeProtectiveMbr(table.totalSectors, 512));
 * ```
 */
export function encodeProtectiveMbr(totalSectors: number, sectorSize: number): Buffer {
  const b = Buffer.alloc(sectorSize);
  const p = 446; // first partition record
  b[p + 0] = 0x00; // not bootable
  b[p + 1] = 0x00; // CHS of first sector: 0/0/2, as sgdisk writes it
  b[p + 2] = 0x02;
  b[p + 3] = 0x00;
  b[p + 4] = MBR_TYPE_GPT_PROTECTIVE;
  b[p + 5] = 0xff; // CHS of last sector: saturated
  b[p + 6] = 0xff;
  b[p + 7] = 0xff;
  b.writeUInt32LE(1, p + 8); // starting LBA
  b.writeUInt32LE(Math.min(totalSectors - 1, 0xffffffff), p + 12); // size in sectors, saturated
  b[510] = 0x55;
  b[511] = 0xaa;
  return b;
}

/**
 * What a protective MBR says: where its single 0xEE partition starts and how long it is.
 *
 * @example
 * ```ts
 * decodeProtectiveMbr(await storage.readAt(0, 512)); // { startLba: 1, sizeLba: … }
 * ```
 */
export interface ProtectiveMbr {
  startLba: number;
  sizeLba: number;
}

/**
 * Decodes and checks a protective MBR (CorruptError when the sector holds none).
 *
 * @example
 * ```ts
 * const mbr = decodeProtectiveMbr(await storage.readAt(0, 512));
 * ```
 */
export function decodeProtectiveMbr(b: Uint8Array): ProtectiveMbr {
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  if (buf[510] !== 0x55 || buf[511] !== 0xaa) throw new CorruptError('MBR: no 0x55AA boot signature');
  for (let i = 0; i < 4; i++) {
    const p = 446 + i * 16;
    if (buf[p + 4] === MBR_TYPE_GPT_PROTECTIVE) return { startLba: buf.readUInt32LE(p + 8), sizeLba: buf.readUInt32LE(p + 12) };
  }
  throw new CorruptError('MBR: no protective (0xEE) partition');
}
