/**
 * The in-memory GPT: the whole entry array in order (the index + 1 is the partition number), plus the
 * disk geometry. Pure: serialising to the on-disk regions and validating decoded tables. No I/O.
 */
import { CorruptError } from '../errors.js';
import { ZERO_GUID } from '../guid.js';
import { crc32, encodeHeader, type GptHeader } from './header.js';
import { encodeEntries, isUnused, type GptEntry } from './entry.js';
import { encodeProtectiveMbr } from './mbr.js';

export const DEFAULT_ENTRY_COUNT = 128;
export const ENTRY_SIZE = 128;

/**
 * A GUID partition table in memory: the disk's geometry and every entry of the array. Codecs and the
 * slot transitions work on it; {@link readGpt} and {@link writeGpt} move it to and from a disk.
 *
 * @example
 * ```ts
 * const { table } = await readSlotStatus('disk.raw');
 * console.log(table.sectorSize, table.totalSectors, table.diskGuid);
 * ```
 */
export interface GptTable {
  sectorSize: number;
  totalSectors: number;
  diskGuid: string;
  firstUsableLba: number;
  lastUsableLba: number;
  entryCount: number;
  entrySize: number;
  /** Exactly `entryCount` entries; unused ones have the zero type GUID. */
  entries: GptEntry[];
}

/**
 * A used entry of a table with its partition number: what {@link partitions} lists.
 *
 * @example
 * ```ts
 * const esp: Partition | undefined = partitions(table).find((p) => p.name === 'EFI-SYSTEM');
 * ```
 */
export interface Partition extends GptEntry {
  /** 1-based partition number (entry index + 1). */
  number: number;
}

export const UNUSED_ENTRY: GptEntry = { type: ZERO_GUID, uuid: ZERO_GUID, firstLba: 0, lastLba: 0, attributes: 0n, name: '' };

export function arraySectors(entryCount: number, entrySize: number, sectorSize: number): number {
  return Math.ceil((entryCount * entrySize) / sectorSize);
}

/**
 * An empty table spanning a disk of `totalSectors`, with the standard placement of both copies.
 *
 * @example
 * ```ts
 * const t = emptyTable(512, 2048 * 1024, '0cda7ebc-34f1-4f38-8bd5-2beb1ba82555'); // 1 GiB, no partitions
 * console.log(t.firstUsableLba, t.lastUsableLba); // 34 2097118
 * ```
 */
export function emptyTable(sectorSize: number, totalSectors: number, diskGuid: string, entryCount = DEFAULT_ENTRY_COUNT): GptTable {
  const n = arraySectors(entryCount, ENTRY_SIZE, sectorSize);
  const firstUsableLba = 2 + n;
  const lastUsableLba = totalSectors - 2 - n;
  if (lastUsableLba < firstUsableLba) throw new CorruptError(`disk of ${totalSectors} sectors is too small for a GPT`);
  return {
    sectorSize,
    totalSectors,
    diskGuid,
    firstUsableLba,
    lastUsableLba,
    entryCount,
    entrySize: ENTRY_SIZE,
    entries: Array.from({ length: entryCount }, () => ({ ...UNUSED_ENTRY })),
  };
}

/**
 * The used entries of a table, with their partition numbers (entry index + 1), in table order.
 *
 * @example
 * ```ts
 * partitions(table).map((p) => `${p.number} ${p.name}`); // ['1 EFI-SYSTEM', '2 BIOS-BOOT', '3 USR-A', …]
 * ```
 */
export function partitions(t: GptTable): Partition[] {
  const out: Partition[] = [];
  t.entries.forEach((e, i) => {
    if (!isUnused(e)) out.push({ ...e, number: i + 1 });
  });
  return out;
}

export function cloneTable(t: GptTable): GptTable {
  return { ...t, entries: t.entries.map((e) => ({ ...e })) };
}

/**
 * Where each on-disk region of a table lives, in LBAs.
 *
 * @example
 * ```ts
 * const r = regions(table);
 * console.log(r.primaryArrayLba, r.backupHeaderLba); // 2 and the disk's last sector
 * ```
 */
export interface TableRegions {
  primaryHeaderLba: number;
  primaryArrayLba: number;
  backupArrayLba: number;
  backupHeaderLba: number;
  arraySectors: number;
}

/**
 * Where both copies of a table lie on its disk, in LBAs.
 *
 * @example
 * ```ts
 * regions(emptyTable(512, 2048, ZERO_GUID)).backupHeaderLba; // 2047
 * ```
 */
export function regions(t: GptTable): TableRegions {
  const n = arraySectors(t.entryCount, t.entrySize, t.sectorSize);
  return { primaryHeaderLba: 1, primaryArrayLba: 2, backupArrayLba: t.totalSectors - 1 - n, backupHeaderLba: t.totalSectors - 1, arraySectors: n };
}

/**
 * The bytes of every region of a table, ready to write: what {@link encodeTable} returns.
 *
 * @example
 * ```ts
 * const enc: EncodedTable = encodeTable(table);
 * console.log(enc.primaryHeader.length); // one sector
 * ```
 */
export interface EncodedTable extends TableRegions {
  mbr: Buffer;
  primaryHeader: Buffer;
  backupHeader: Buffer;
  /** Identical for both copies, padded to whole sectors. */
  array: Buffer;
}

/**
 * Serialises every region before anything touches a disk.
 *
 * @example
 * ```ts
 * const enc = encodeTable(table);
 * await storage.writeAt(enc.primaryHeaderLba * table.sectorSize, enc.primaryHeader);
 * ```
 */
export function encodeTable(t: GptTable): EncodedTable {
  validateTable(t);
  const r = regions(t);
  const array = Buffer.alloc(r.arraySectors * t.sectorSize);
  encodeEntries(t.entries, t.entryCount, t.entrySize).copy(array);
  const entriesCrc32 = crc32(array.subarray(0, t.entryCount * t.entrySize));
  const common = { firstUsableLba: t.firstUsableLba, lastUsableLba: t.lastUsableLba, diskGuid: t.diskGuid, entryCount: t.entryCount, entrySize: t.entrySize, entriesCrc32 };
  const primary: GptHeader = { ...common, myLba: r.primaryHeaderLba, alternateLba: r.backupHeaderLba, entriesLba: r.primaryArrayLba };
  const backup: GptHeader = { ...common, myLba: r.backupHeaderLba, alternateLba: r.primaryHeaderLba, entriesLba: r.backupArrayLba };
  return {
    ...r,
    mbr: encodeProtectiveMbr(t.totalSectors, t.sectorSize),
    primaryHeader: encodeHeader(primary, t.sectorSize),
    backupHeader: encodeHeader(backup, t.sectorSize),
    array,
  };
}

/**
 * Bounds and overlap checks shared by the writer (our own tables) and the reader (foreign ones).
 *
 * @example
 * ```ts
 * validateTable(table); // throws a CorruptError naming the overlapping or out-of-bounds entry
 * ```
 */
export function validateTable(t: GptTable, what = 'GPT'): void {
  const r = regions(t);
  if (t.entries.length !== t.entryCount) throw new CorruptError(`${what}: ${t.entries.length} entries, header says ${t.entryCount}`);
  if (t.firstUsableLba < r.primaryArrayLba + r.arraySectors) throw new CorruptError(`${what}: first usable LBA ${t.firstUsableLba} overlaps the primary entry array`);
  if (t.lastUsableLba >= r.backupArrayLba) throw new CorruptError(`${what}: last usable LBA ${t.lastUsableLba} overlaps the backup entry array`);
  const used = partitions(t).sort((a, b) => a.firstLba - b.firstLba);
  for (const p of used) {
    if (p.firstLba > p.lastLba) throw new CorruptError(`${what}: partition ${p.number} ends (${p.lastLba}) before it starts (${p.firstLba})`);
    if (p.firstLba < t.firstUsableLba || p.lastLba > t.lastUsableLba) {
      throw new CorruptError(`${what}: partition ${p.number} (${p.firstLba}-${p.lastLba}) is outside the usable area ${t.firstUsableLba}-${t.lastUsableLba}`);
    }
  }
  for (let i = 1; i < used.length; i++) {
    if (used[i].firstLba <= used[i - 1].lastLba) throw new CorruptError(`${what}: partitions ${used[i - 1].number} and ${used[i].number} overlap`);
  }
}

/** True when two tables describe the same disk identically (what both copies must agree on). */
export function sameTable(a: GptTable, b: GptTable): boolean {
  if (a.diskGuid !== b.diskGuid || a.firstUsableLba !== b.firstUsableLba || a.lastUsableLba !== b.lastUsableLba) return false;
  if (a.entryCount !== b.entryCount || a.entrySize !== b.entrySize) return false;
  return encodeEntries(a.entries, a.entryCount, a.entrySize).equals(encodeEntries(b.entries, b.entryCount, b.entrySize));
}
