/** Where the manifest says each region lies, in bytes: shared by recording and verifying. */
import type { ByteRange } from '../manifest/manifest.js';

export interface Geometry {
  sectorSize: number;
  diskBytes: number;
  headers: Array<{ myLba: number; entriesLba: number; entryCount: number; entrySize: number }>;
  partitions: Array<{ firstLba: number; lastLba: number }>;
}

/** Byte range of a partition. */
export function partitionRange(p: { firstLba: number; lastLba: number }, sectorSize: number): ByteRange {
  return [p.firstLba * sectorSize, (p.lastLba - p.firstLba + 1) * sectorSize];
}

/**
 * Everything that is not LBA 0, a GPT header sector, an entry array or a partition: the alignment
 * gaps, the array's padding up to the first usable LBA, free space at the end. Nothing is meant to
 * be there, so it is digested like a reserved partition.
 */
export function unallocatedRanges(g: Geometry): ByteRange[] {
  const ss = g.sectorSize;
  const used: ByteRange[] = [[0, ss]];
  for (const h of g.headers) used.push([h.myLba * ss, ss], [h.entriesLba * ss, h.entryCount * h.entrySize]);
  for (const p of g.partitions) used.push(partitionRange(p, ss));
  used.sort((a, b) => a[0] - b[0]);
  const free: ByteRange[] = [];
  let at = 0;
  for (const [o, l] of used) {
    if (o > at) free.push([at, o - at]);
    at = Math.max(at, o + l);
  }
  if (at < g.diskBytes) free.push([at, g.diskBytes - at]);
  return free;
}
