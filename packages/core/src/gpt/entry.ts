/** Pure codec for one GPT partition entry (UEFI 2.10 §5.3.3). No I/O. */
import { CorruptError } from '../errors.js';
import { decodeGuid, encodeGuid, ZERO_GUID } from '../guid.js';

export const NAME_UNITS = 36;

/**
 * One entry of the partition entry array (UEFI 2.10 §5.3.3): type and partition GUIDs, the LBA range,
 * the attribute bits and the UTF-16 name. An unused entry has the zero type GUID.
 *
 * @example
 * ```ts
 * const e: GptEntry = { type: resolveType('esp')!, uuid: '…', firstLba: 2048, lastLba: 206847, attributes: 0n, name: 'EFI-SYSTEM' };
 * ```
 */
export interface GptEntry {
  type: string;
  uuid: string;
  firstLba: number;
  /** Inclusive, as on disk. */
  lastLba: number;
  attributes: bigint;
  name: string;
}

export function isUnused(e: GptEntry): boolean {
  return e.type === ZERO_GUID;
}

/**
 * Encodes one entry into `entrySize` bytes (the name as UTF-16LE, at most 36 code units).
 *
 * @example
 * ```ts
 * const bytes = encodeEntry(entry); // 128 bytes
 * decodeEntry(bytes).name === entry.name; // true
 * ```
 */
export function encodeEntry(e: GptEntry, entrySize = 128): Buffer {
  const b = Buffer.alloc(entrySize);
  if (isUnused(e)) return b; // an unused entry is all zero
  encodeGuid(e.type).copy(b, 0); // 0..16 partition type GUID
  encodeGuid(e.uuid).copy(b, 16); // 16..32 unique partition GUID
  b.writeBigUInt64LE(BigInt(e.firstLba), 32); // 32..40 first LBA
  b.writeBigUInt64LE(BigInt(e.lastLba), 40); // 40..48 last LBA, inclusive
  b.writeBigUInt64LE(BigInt.asUintN(64, e.attributes), 48); // 48..56 attributes
  const units = Buffer.from(e.name, 'utf16le'); // 56..128 name, UTF-16LE, NUL padded
  if (units.length > NAME_UNITS * 2) throw new CorruptError(`partition name "${e.name}" is longer than ${NAME_UNITS} UTF-16 code units`);
  units.copy(b, 56);
  return b;
}

/**
 * Decodes one entry from `b` at `offset`.
 *
 * @example
 * ```ts
 * const array = await storage.readAt(2 * 512, 128 * 128);
 * const third = decodeEntry(array, 2 * 128);
 * ```
 */
export function decodeEntry(b: Uint8Array, offset = 0): GptEntry {
  const buf = Buffer.from(b.buffer, b.byteOffset + offset, 128);
  const nameBytes = buf.subarray(56, 128);
  let end = 0;
  while (end < nameBytes.length && (nameBytes[end] !== 0 || nameBytes[end + 1] !== 0)) end += 2;
  return {
    type: decodeGuid(buf, 0),
    uuid: decodeGuid(buf, 16),
    firstLba: Number(buf.readBigUInt64LE(32)),
    lastLba: Number(buf.readBigUInt64LE(40)),
    attributes: buf.readBigUInt64LE(48),
    name: nameBytes.subarray(0, end).toString('utf16le'),
  };
}

export function encodeEntries(entries: GptEntry[], entryCount: number, entrySize: number): Buffer {
  if (entries.length > entryCount) throw new CorruptError(`${entries.length} entries do not fit an array of ${entryCount}`);
  const b = Buffer.alloc(entryCount * entrySize);
  entries.forEach((e, i) => encodeEntry(e, entrySize).copy(b, i * entrySize));
  return b;
}

export function decodeEntries(b: Uint8Array, entryCount: number, entrySize: number): GptEntry[] {
  const out: GptEntry[] = [];
  for (let i = 0; i < entryCount; i++) out.push(decodeEntry(b, i * entrySize));
  return out;
}
