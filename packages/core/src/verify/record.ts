/**
 * What build and update record in the manifest for verify, read back from the finished image (not
 * from what was meant to be written): the partitions, the protective MBR, both GPT headers and the
 * masked entry array, the ESP's files, reserved partitions and unallocated space.
 * Call `recordImage` once the image is complete (after the flip, for an update).
 */
import { findEsp } from '../layout/roles.js';
import { promises as fsp } from 'node:fs';
import { readEspFiles } from '../boot/esp.js';
import { InputError } from '../errors.js';
import { readGpt } from '../gpt/io.js';
import { partitions } from '../gpt/table.js';
import { sha256Buffer } from '../manifest/manifest.js';
import type { EspRecord, GptHeaderRecord, PartitionRecord, RecordedRegions, ReservedRecord } from '../manifest/schema.js';
import { FileStorage } from '../storage.js';
import { coverageOf } from './coverage.js';
import { digestRanges, readBytes } from './digest.js';
import { fatBootArea } from './fat.js';
import { decodeRawHeader } from '../gpt/header.js';
import { HEADER_FIELDS, maskBootBits } from './gpt-raw.js';
import { partitionRecord } from '../gpt/record.js';
import { partitionRange, unallocatedRanges } from './regions.js';

export type RoleOf = (partitionNumber: number) => string;


/** The GPT's partitions in the manifest's vocabulary (from a table that reads valid). */
export async function partitionRecords(imagePath: string, roleOf: RoleOf): Promise<PartitionRecord[]> {
  const disk = await FileStorage.open(imagePath);
  try {
    const { table } = await readGpt(disk);
    return partitions(table).map((p) => ({ ...partitionRecord(p), role: roleOf(p.number) }));
  } finally {
    await disk.close();
  }
}

export function headerRecord(sector: Buffer): GptHeaderRecord {
  const h = decodeRawHeader(sector);
  return Object.fromEntries(HEADER_FIELDS.map((k) => [k, h[k]])) as unknown as GptHeaderRecord;
}

/** Both headers' fields and the entry array's digest with the USR slots' boot bits zeroed. */
export async function gptRecord(imagePath: string, sectorSize: number, diskBytes: number, slotNumbers: readonly number[]): Promise<RecordedRegions['gpt']> {
  const primary = headerRecord(await readBytes(imagePath, sectorSize, sectorSize));
  const backup = headerRecord(await readBytes(imagePath, diskBytes - sectorSize, sectorSize));
  const array = await readBytes(imagePath, primary.entriesLba * sectorSize, primary.entryCount * primary.entrySize);
  return { primary, backup, entryArraySha256: sha256Buffer(maskBootBits(array, primary.entrySize, slotNumbers)) };
}

/** Every file on the ESP, read back through mtools. */
export async function espRecord(imagePath: string, esp: PartitionRecord, sectorSize: number): Promise<EspRecord> {
  const offset = esp.firstLba * sectorSize;
  const files = (await readEspFiles(imagePath, offset)).map(({ path, data }) => ({ path, sha256: sha256Buffer(data), bytes: data.length }));
  return { partition: esp.number, bootArea: await fatBootArea(imagePath, offset), files };
}

export async function reservedRecords(imagePath: string, parts: readonly PartitionRecord[], sectorSize: number): Promise<ReservedRecord[]> {
  const out: ReservedRecord[] = [];
  for (const p of parts) {
    if (coverageOf(p.role) !== 'digest') continue;
    out.push({ number: p.number, label: p.label, ...(await digestRanges(imagePath, [partitionRange(p, sectorSize)])) });
  }
  return out;
}

/** Everything recorded for verify, in one call. */
export async function recordImage(imagePath: string, o: { sectorSize: number; roleOf: RoleOf }): Promise<{ partitions: PartitionRecord[] } & RecordedRegions> {
  const ss = o.sectorSize;
  const diskBytes = (await fsp.stat(imagePath)).size;
  const parts = await partitionRecords(imagePath, o.roleOf);
  const esp = findEsp(parts, imagePath);
  if (!esp) throw new InputError('the image has no ESP (role "esp")', { file: imagePath });
  const gpt = await gptRecord(imagePath, ss, diskBytes, parts.filter((p) => p.role === 'usr-slot').map((p) => p.number));
  return {
    partitions: parts,
    protectiveMbr: await digestRanges(imagePath, [[0, ss]]),
    gpt,
    esp: await espRecord(imagePath, esp, ss),
    reserved: await reservedRecords(imagePath, parts, ss),
    unallocated: await digestRanges(imagePath, unallocatedRanges({ sectorSize: ss, diskBytes, headers: [gpt.primary, gpt.backup], partitions: parts })),
  };
}
