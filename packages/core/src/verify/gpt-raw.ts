/**
 * The GPT as raw bytes, decoded without validation: verify must name the field that differs even when
 * a CRC is broken, where readGpt would only say "CRC32 mismatch" (or silently fall back to the backup).
 */
import { decodeEntry, type GptEntry } from '../gpt/entry.js';
import { ATTR } from '../gpt/attributes.js';

/** The fields the manifest records (everything but the CRCs, which change with the slot bits). */
export const HEADER_FIELDS = ['revision', 'headerSize', 'myLba', 'alternateLba', 'firstUsableLba', 'lastUsableLba', 'diskGuid', 'entriesLba', 'entryCount', 'entrySize'] as const;

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
