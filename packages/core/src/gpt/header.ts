/** Pure codec for the GPT header (UEFI 2.10 §5.3.2). No I/O. */
import CRC32 from 'crc-32';
import { CorruptError } from '../errors.js';
import { decodeGuid, encodeGuid } from '../guid.js';

export const GPT_SIGNATURE = 'EFI PART';
export const GPT_REVISION = 0x00010000;
export const GPT_HEADER_SIZE = 92;

/**
 * The fields of a GPT header that a table needs (UEFI 2.10 §5.3.2); the CRCs are computed when encoding.
 *
 * @example
 * ```ts
 * const h = decodeHeader(await storage.readAt(512, 512));
 * console.log(h.myLba, h.alternateLba, h.entryCount); // 1 <last LBA> 128
 * ```
 */
export interface GptHeader {
  myLba: number;
  alternateLba: number;
  firstUsableLba: number;
  lastUsableLba: number;
  diskGuid: string;
  entriesLba: number;
  entryCount: number;
  entrySize: number;
  entriesCrc32: number;
}

/**
 * The CRC-32 of the GPT (IEEE 802.3), as an unsigned number.
 *
 * @example
 * ```ts
 * crc32(Buffer.from('123456789')).toString(16); // 'cbf43926'
 * ```
 */
export function crc32(buf: Uint8Array): number {
  return CRC32.buf(buf) >>> 0;
}

/**
 * Encodes a header into one sector of `sectorSize` bytes (the tail is zero), CRC filled in.
 *
 * @example
 * ```ts
 * const sector = encodeHeader(header, 512);
 * decodeHeader(sector).diskGuid === header.diskGuid; // true
 * ```
 */
export function encodeHeader(h: GptHeader, sectorSize: number): Buffer {
  const b = Buffer.alloc(sectorSize);
  b.write(GPT_SIGNATURE, 0, 'latin1'); // 0..8 signature
  b.writeUInt32LE(GPT_REVISION, 8); // 8..12 revision 1.0
  b.writeUInt32LE(GPT_HEADER_SIZE, 12); // 12..16 header size
  // 16..20 header CRC32, computed below over the header with this field zero; 20..24 reserved
  b.writeBigUInt64LE(BigInt(h.myLba), 24); // 24..32 this header's LBA
  b.writeBigUInt64LE(BigInt(h.alternateLba), 32); // 32..40 the other header's LBA
  b.writeBigUInt64LE(BigInt(h.firstUsableLba), 40); // 40..48
  b.writeBigUInt64LE(BigInt(h.lastUsableLba), 48); // 48..56 (inclusive)
  encodeGuid(h.diskGuid).copy(b, 56); // 56..72 disk GUID
  b.writeBigUInt64LE(BigInt(h.entriesLba), 72); // 72..80 partition entry array LBA
  b.writeUInt32LE(h.entryCount, 80); // 80..84 number of entries
  b.writeUInt32LE(h.entrySize, 84); // 84..88 size of one entry
  b.writeUInt32LE(h.entriesCrc32 >>> 0, 88); // 88..92 entry array CRC32
  b.writeUInt32LE(crc32(b.subarray(0, GPT_HEADER_SIZE)), 16);
  return b;
}

/** Every field of a header sector as stored, valid or not: what a checker needs to name a bad field. */
export interface RawGptHeader extends GptHeader {
  signature: string;
  revision: number;
  headerSize: number;
  headerCrc32: number;
  /** The CRC the header's bytes should carry. */
  headerCrcComputed: number;
  /** Bytes 20..24 and headerSize..sector end, which the spec requires to be zero. */
  reservedZero: boolean;
}

/** Reads every field without judging any (a sector of at least GPT_HEADER_SIZE bytes). */
export function decodeRawHeader(b: Uint8Array): RawGptHeader {
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  const headerSize = buf.readUInt32LE(12); // 12..16
  const crcLen = Math.min(Math.max(headerSize, GPT_HEADER_SIZE), buf.length);
  const copy = Buffer.from(buf.subarray(0, crcLen));
  copy.writeUInt32LE(0, 16);
  return {
    signature: buf.toString('latin1', 0, 8), // 0..8
    revision: buf.readUInt32LE(8), // 8..12
    headerSize,
    headerCrc32: buf.readUInt32LE(16), // 16..20, over the header with this field zero
    headerCrcComputed: crc32(copy),
    myLba: Number(buf.readBigUInt64LE(24)), // 24..32
    alternateLba: Number(buf.readBigUInt64LE(32)), // 32..40
    firstUsableLba: Number(buf.readBigUInt64LE(40)), // 40..48
    lastUsableLba: Number(buf.readBigUInt64LE(48)), // 48..56 (inclusive)
    diskGuid: decodeGuid(buf, 56), // 56..72
    entriesLba: Number(buf.readBigUInt64LE(72)), // 72..80
    entryCount: buf.readUInt32LE(80), // 80..84
    entrySize: buf.readUInt32LE(84), // 84..88
    entriesCrc32: buf.readUInt32LE(88), // 88..92
    reservedZero: buf.readUInt32LE(20) === 0 && buf.subarray(crcLen).every((x) => x === 0),
  };
}

/**
 * Decodes and checks the parts of a header that need no context: signature, revision, size, CRC and
 * basic sanity of the entry array description. Position checks are the reader's.
 *
 * @example
 * ```ts
 * const h = decodeHeader(await storage.readAt(512, 512)); // CorruptError on a bad signature or CRC
 * ```
 */
export function decodeHeader(b: Uint8Array, what = 'GPT header'): GptHeader {
  if (b.byteLength < GPT_HEADER_SIZE) throw new CorruptError(`${what}: truncated (${b.byteLength} bytes)`);
  const r = decodeRawHeader(b);
  if (r.signature !== GPT_SIGNATURE) throw new CorruptError(`${what}: no "EFI PART" signature`);
  if (r.revision !== GPT_REVISION) throw new CorruptError(`${what}: unsupported revision 0x${r.revision.toString(16)}`);
  if (r.headerSize < GPT_HEADER_SIZE || r.headerSize > b.byteLength) throw new CorruptError(`${what}: bad header size ${r.headerSize}`);
  if (r.headerCrcComputed !== r.headerCrc32) throw new CorruptError(`${what}: header CRC32 mismatch`);
  const h: GptHeader = {
    myLba: r.myLba,
    alternateLba: r.alternateLba,
    firstUsableLba: r.firstUsableLba,
    lastUsableLba: r.lastUsableLba,
    diskGuid: r.diskGuid,
    entriesLba: r.entriesLba,
    entryCount: r.entryCount,
    entrySize: r.entrySize,
    entriesCrc32: r.entriesCrc32,
  };
  if (h.entrySize < 128 || h.entrySize % 8 !== 0 || h.entrySize > 4096) {
    throw new CorruptError(`${what}: bad partition entry size ${h.entrySize}`);
  }
  if (h.entryCount === 0 || h.entryCount > 65536) throw new CorruptError(`${what}: bad partition entry count ${h.entryCount}`);
  if (h.firstUsableLba > h.lastUsableLba) throw new CorruptError(`${what}: first usable LBA ${h.firstUsableLba} > last usable ${h.lastUsableLba}`);
  return h;
}
