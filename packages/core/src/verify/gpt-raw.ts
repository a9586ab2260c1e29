/**
 * The GPT as raw bytes, decoded without validation: verify must name the field that differs even when
 * a CRC is broken, where readGpt would only say "CRC32 mismatch" (or silently fall back to the backup).
 */
import { decodeEntry, type GptEntry } from '../gpt/entry.js';
import { crc32 } from '../gpt/header.js';
import { ATTR } from '../gpt/attributes.js';
import { decodeGuid } from '../guid.js';

export interface RawGptHeader {
  signature: string;
  revision: number;
  headerSize: number;
  headerCrc32: number;
  /** The CRC of the header's bytes, as it should be stored. */
  headerCrcComputed: number;
  myLba: number;
  alternateLba: number;
  firstUsableLba: number;
  lastUsableLba: number;
  diskGuid: string;
  entriesLba: number;
  entryCount: number;
  entrySize: number;
  entriesCrc32: number;
  /** Bytes 20..24 and headerSize..sector end, which the spec requires to be zero. */
  reservedZero: boolean;
}

/** The fields the manifest records (everything but the CRCs, which change with the slot bits). */
export const HEADER_FIELDS = ['revision', 'headerSize', 'myLba', 'alternateLba', 'firstUsableLba', 'lastUsableLba', 'diskGuid', 'entriesLba', 'entryCount', 'entrySize'] as const;

export function decodeRawHeader(sector: Buffer): RawGptHeader {
  const headerSize = sector.readUInt32LE(12);
  const crcLen = Math.min(Math.max(headerSize, 92), sector.length);
  const copy = Buffer.from(sector.subarray(0, crcLen));
  copy.writeUInt32LE(0, 16);
  const tail = sector.subarray(Math.min(crcLen, sector.length));
  return {
    signature: sector.toString('latin1', 0, 8),
    revision: sector.readUInt32LE(8),
    headerSize,
    headerCrc32: sector.readUInt32LE(16),
    headerCrcComputed: crc32(copy),
    myLba: Number(sector.readBigUInt64LE(24)),
    alternateLba: Number(sector.readBigUInt64LE(32)),
    firstUsableLba: Number(sector.readBigUInt64LE(40)),
    lastUsableLba: Number(sector.readBigUInt64LE(48)),
    diskGuid: decodeGuid(sector, 56),
    entriesLba: Number(sector.readBigUInt64LE(72)),
    entryCount: sector.readUInt32LE(80),
    entrySize: sector.readUInt32LE(84),
    entriesCrc32: sector.readUInt32LE(88),
    reservedZero: sector.readUInt32LE(20) === 0 && tail.every((b) => b === 0),
  };
}

/** priority (48-51), tries (52-55) and successful (56): the bits that change at boot. */
export const BOOT_BITS_MASK = (0x1ffn << BigInt(ATTR.priority));

/** A copy of the entry array with the boot bits of the given (1-based) partitions zeroed. */
export function maskBootBits(array: Buffer, entrySize: number, slotNumbers: readonly number[]): Buffer {
  const out = Buffer.from(array);
  for (const n of slotNumbers) {
    const at = (n - 1) * entrySize + 48;
    if (at + 8 > out.length) continue;
    out.writeBigUInt64LE(out.readBigUInt64LE(at) & ~BOOT_BITS_MASK, at);
  }
  return out;
}

/** Every entry of the array, unused ones included, with its 1-based number. */
export function rawEntries(array: Buffer, entrySize: number): Array<GptEntry & { number: number; zero: boolean }> {
  const out: Array<GptEntry & { number: number; zero: boolean }> = [];
  for (let i = 0; (i + 1) * entrySize <= array.length && entrySize >= 128; i++) {
    const bytes = array.subarray(i * entrySize, (i + 1) * entrySize);
    out.push({ ...decodeEntry(bytes), number: i + 1, zero: bytes.every((b) => b === 0) });
  }
  return out;
}

export function attributesHex(a: bigint): string {
  return '0x' + BigInt.asUintN(64, a).toString(16).padStart(16, '0');
}
