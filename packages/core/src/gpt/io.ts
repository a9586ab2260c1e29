/**
 * Reading and writing a GPT on a Storage. The only GPT module that does I/O.
 *
 * Write order is backup array, backup header, primary array, primary header, with a sync after each,
 * so an interruption leaves one of these states:
 *   - before the backup header lands: primary (old) valid, backup array damaged → reads old;
 *   - after the backup header, before the primary array: both valid, differing → reads primary (old);
 *   - after the primary array, before its header: primary array CRC mismatch → reads backup (new);
 *   - after the primary header: both new.
 * Every state reads as exactly the old or exactly the new table, and `repairGpt` makes both copies agree.
 */
import { CorruptError, ImgbuildError } from '../errors.js';
import type { Storage } from '../storage.js';
import { decodeEntries } from './entry.js';
import { crc32, decodeHeader, type GptHeader } from './header.js';
import { decodeProtectiveMbr } from './mbr.js';
import { gptProblems } from './record.js';
import { arraySectors, encodeTable, sameTable, validateTable, type GptTable } from './table.js';

/**
 * Which copy of the GPT a read used: the primary (at the start of the disk) or the backup (at its end).
 *
 * @example
 * ```ts
 * const { source } = await readGpt(await FileStorage.open('disk.raw'));
 * if (source === 'backup') console.log('the primary GPT is damaged; run repairGpt');
 * ```
 */
export type GptSource = 'primary' | 'backup';

/**
 * A GPT as read: the table, the copy it came from, and what is wrong with either copy.
 *
 * @example
 * ```ts
 * const read = await readGpt(await FileStorage.open('disk.raw'));
 * console.log(read.table.entries.length, read.source, read.needsRepair); // 128 'primary' false
 * ```
 */
export interface GptReadResult {
  table: GptTable;
  /** Which copy the table was read from. */
  source: GptSource;
  primaryError?: string;
  backupError?: string;
  /** Both copies valid but not identical (an interrupted write) or backup misplaced. */
  copiesDiffer: boolean;
  /** Something should be rewritten by `repairGpt`. */
  needsRepair: boolean;
  mbrError?: string;
}

const SECTOR_SIZES = [512, 4096] as const;

async function readCopy(s: Storage, sectorSize: number, lba: number, which: GptSource): Promise<GptTable> {
  const totalSectors = Math.floor(s.size / sectorSize);
  if (lba < 1 || lba >= totalSectors) throw new CorruptError(`${which} GPT header: LBA ${lba} is outside the disk`);
  const h: GptHeader = decodeHeader(await s.readAt(lba * sectorSize, sectorSize), `${which} GPT header`);
  if (h.myLba !== lba) throw new CorruptError(`${which} GPT header: my_lba is ${h.myLba}, expected ${lba}`);
  const expectedAlternate = which === 'primary' ? totalSectors - 1 : 1;
  if (which === 'backup' && h.alternateLba !== expectedAlternate) throw new CorruptError(`backup GPT header: alternate_lba is ${h.alternateLba}, expected 1`);
  if (which === 'primary' && (h.alternateLba <= h.lastUsableLba || h.alternateLba >= totalSectors)) {
    throw new CorruptError(`primary GPT header: alternate_lba ${h.alternateLba} is not past the usable area inside the disk`);
  }
  if (h.lastUsableLba >= totalSectors) throw new CorruptError(`${which} GPT header: last usable LBA ${h.lastUsableLba} is beyond the disk (${totalSectors} sectors)`);
  const n = arraySectors(h.entryCount, h.entrySize, sectorSize);
  const arrayFits = which === 'primary'
    ? h.entriesLba >= 2 && h.entriesLba + n <= h.firstUsableLba
    : h.entriesLba > h.lastUsableLba && h.entriesLba + n <= lba;
  if (!arrayFits) throw new CorruptError(`${which} GPT header: entry array at LBA ${h.entriesLba} (${n} sectors) overlaps the usable area or header`);
  const raw = await s.readAt(h.entriesLba * sectorSize, h.entryCount * h.entrySize);
  if (crc32(raw) !== h.entriesCrc32) throw new CorruptError(`${which} GPT entry array: CRC32 mismatch`);
  const table: GptTable = {
    sectorSize,
    totalSectors,
    diskGuid: h.diskGuid,
    firstUsableLba: h.firstUsableLba,
    lastUsableLba: h.lastUsableLba,
    entryCount: h.entryCount,
    entrySize: h.entrySize,
    entries: decodeEntries(raw, h.entryCount, h.entrySize),
  };
  validateTable(table, `${which} GPT`);
  return table;
}

async function detectSectorSize(s: Storage): Promise<number> {
  for (const ss of SECTOR_SIZES) {
    if (s.size >= ss * 2 && (await s.readAt(ss, 8)).toString('latin1') === 'EFI PART') return ss;
  }
  for (const ss of SECTOR_SIZES) {
    if (s.size >= ss * 2 && s.size % ss === 0 && (await s.readAt(s.size - ss, 8)).toString('latin1') === 'EFI PART') return ss;
  }
  return 512;
}

function message(e: unknown): string {
  if (e instanceof CorruptError) return e.message;
  throw e; // I/O failures are not "bad content": pass them up
}

/**
 * Reads the GPT, falling back to the backup copy when the primary is damaged (and reporting it).
 *
 * @example
 * ```ts
 * import { FileStorage } from '@imgbuild/core';
 * import { partitions, readGpt } from '@imgbuild/core/gpt';
 *
 * const { table } = await readGpt(await FileStorage.open('disk.raw'));
 * for (const p of partitions(table)) console.log(p.number, p.name, p.firstLba, p.lastLba);
 * ```
 */
export async function readGpt(s: Storage, opts: { sectorSize?: number } = {}): Promise<GptReadResult> {
  const sectorSize = opts.sectorSize ?? (await detectSectorSize(s));
  const totalSectors = Math.floor(s.size / sectorSize);
  if (totalSectors < 3) throw new CorruptError(`no GPT: the disk is only ${s.size} bytes`);
  let primary: GptTable | undefined;
  let backup: GptTable | undefined;
  let primaryError: string | undefined;
  let backupError: string | undefined;
  try {
    primary = await readCopy(s, sectorSize, 1, 'primary');
  } catch (e) {
    primaryError = message(e);
  }
  try {
    backup = await readCopy(s, sectorSize, totalSectors - 1, 'backup');
  } catch (e) {
    backupError = message(e);
  }
  let mbrError: string | undefined;
  try {
    decodeProtectiveMbr(await s.readAt(0, 512));
  } catch (e) {
    mbrError = message(e);
  }
  const table = primary ?? backup;
  if (!table) throw new CorruptError(`no valid GPT: ${primaryError}; ${backupError}`);
  const copiesDiffer = !!primary && !!backup && !sameTable(primary, backup);
  return {
    table,
    source: primary ? 'primary' : 'backup',
    primaryError,
    backupError,
    copiesDiffer,
    mbrError,
    needsRepair: !!primaryError || !!backupError || copiesDiffer || !!mbrError,
  };
}

/**
 * Options of {@link writeGpt}.
 *
 * @example
 * ```ts
 * await writeGpt(storage, table, { protectiveMbr: true });
 * ```
 */
export interface WriteGptOptions {
  /** Also write the protective MBR (first, before either table copy). */
  protectiveMbr?: boolean;
}

/**
 * Writes both copies of `table` in the crash-safe order described at the top of this file.
 *
 * @example
 * ```ts
 * const s = await FileStorage.open('disk.raw', true);
 * const { table } = await readGpt(s);
 * table.entries[5] = { ...table.entries[5], name: 'DATA' };
 * await writeGpt(s, table);
 * await s.close();
 * ```
 */
export async function writeGpt(s: Storage, table: GptTable, opts: WriteGptOptions = {}): Promise<void> {
  if (table.totalSectors * table.sectorSize > s.size) {
    throw new ImgbuildError(`the table describes ${table.totalSectors} sectors but the disk holds ${Math.floor(s.size / table.sectorSize)}`);
  }
  const enc = encodeTable(table); // everything serialised before the first write
  const at = (lba: number) => lba * table.sectorSize;
  if (opts.protectiveMbr) {
    await s.writeAt(0, enc.mbr);
    await s.sync();
  }
  await s.writeAt(at(enc.backupArrayLba), enc.array);
  await s.sync();
  await s.writeAt(at(enc.backupHeaderLba), enc.backupHeader);
  await s.sync();
  await s.writeAt(at(enc.primaryArrayLba), enc.array);
  await s.sync();
  await s.writeAt(at(enc.primaryHeaderLba), enc.primaryHeader);
  await s.sync();
}

/**
 * What {@link repairGpt} found and rewrote.
 *
 * @example
 * ```ts
 * const r = await repairGpt(await FileStorage.open('disk.raw', true));
 * console.log(r.repaired ? `fixed: ${r.fixed.join('; ')}` : 'nothing to repair');
 * ```
 */
export interface RepairResult {
  repaired: boolean;
  source: GptSource;
  /** What was rewritten, in words (gptProblems of the read); empty when nothing was. */
  fixed: string[];
  /** The read before the repair. */
  read: GptReadResult;
}

/**
 * Rewrites whatever is damaged from the copy that reads well.
 *
 * @example
 * ```ts
 * const r = await repairGpt(await FileStorage.open('disk.raw', true));
 * console.log(r.repaired, r.source, r.fixed); // true 'backup' ['primary header: bad CRC …']
 * ```
 */
export async function repairGpt(s: Storage): Promise<RepairResult> {
  const r = await readGpt(s);
  if (!r.needsRepair) return { repaired: false, source: r.source, fixed: [], read: r };
  await writeGpt(s, r.table, { protectiveMbr: !!r.mbrError });
  return { repaired: true, source: r.source, fixed: gptProblems(r), read: r };
}
