/**
 * The ESP's FAT32 in numbers, without touching a file: the cluster size makeEsp chooses, the geometry
 * mkfs.vfat gives, the bytes free on a fresh ESP and the bytes a set of files takes, and the paths
 * FAT and mtools accept. A build uses these to refuse an ESP that is too small before writing
 * anything; esp.ts formats and fills the ESP with the same numbers.
 */
import { InputError } from '../errors.js';

export const SECTOR = 512;
const FAT32_MIN_CLUSTERS = 65525;

/** The components of an ESP path, refused (InputError) unless FAT and mtools store it as given. */
export function checkPath(p: string): string[] {
  const parts = p.split('/');
  const bad = (why: string) => new InputError(`ESP path ${JSON.stringify(p)}: ${why}`);
  if (p.length === 0 || p.startsWith('/')) throw bad('must be relative and not empty');
  for (const c of parts) {
    if (c === '' || c === '.' || c === '..') throw bad('empty, "." or ".." component');
    if (c.length > 255) throw bad('component longer than 255 characters');
    // Printable ASCII only (long names of other characters would depend on mtools' locale); FAT forbids
    // "*/:<>?\| ; [ and ] are refused too because mtools globs them.
    if (/[^\x20-\x7e]|["*:<>?\\|[\]]/.test(c)) throw bad('only printable ASCII, without "*:<>?\\|[] (FAT and mtools)');
    if (/[. ]$/.test(c)) throw bad('component ends with "." or " "');
  }
  return parts;
}

/**
 * Sectors per cluster: the largest of 8, 4, 2, 1 (4 KiB clusters preferred) that still gives FAT32 its
 * minimum of 65525 clusters. mkfs.vfat's own choice does not: at 256 MiB it picks 4 KiB clusters, ends
 * up with ~65 400 and only warns, and mtools then reads the volume as FAT16 ("No directory slots").
 * The estimate is conservative: 32 reserved sectors, two FATs sized for every sector, and one more
 * cluster for mkfs.vfat aligning the data area.
 */
export function sectorsPerCluster(sizeBytes: number): number {
  const sectors = Math.floor(sizeBytes / SECTOR);
  for (const spc of [8, 4, 2, 1]) {
    const fatSectors = Math.ceil(((sectors / spc + 2) * 4) / SECTOR);
    const clusters = Math.floor((sectors - 32 - spc - 2 * fatSectors) / spc);
    if (clusters >= FAT32_MIN_CLUSTERS + 16) return spc;
  }
  return 1;
}

// --- capacity -------------------------------------------------------------------------------------------

/** Where an ESP is formatted: mkfs.vfat's choices depend on the image file around it, not only on the ESP. */
export interface EspPlacement {
  /** Size of the image file mkfs.vfat runs on (default: offset + ESP size, a file holding only the ESP). */
  imageBytes?: number;
  /** Start of the ESP in that file (default 0). */
  offsetBytes?: number;
}

export interface EspGeometry {
  /** Sectors the file system spans (mkfs.vfat rounds down to whole tracks). */
  sectors: number;
  sectorsPerCluster: number;
  clusterBytes: number;
  reservedSectors: number;
  /** Sectors of one FAT (there are two). */
  fatSectors: number;
  /** Data clusters; the root folder takes the first. */
  clusters: number;
}

/**
 * The FAT32 geometry `mkfs.vfat` (dosfstools 4.2) gives an ESP that makeEsp formats, computed the way
 * mkfs.fat's setup_tables() does, so a build can refuse an ESP that is too small before writing:
 * - it spans 2 sectors per 1 KiB block makeEsp passes (mkfsBlockCount), plus the odd 512-byte
 *   sector mkfs.fat adds when the rest of the file from the offset is an odd number of sectors,
 *   rounded down to whole tracks of 32 sectors (files up to 256 MiB) or 63 (larger files);
 * - 32 reserved sectors, two FATs each sized for the clusters and aligned to a cluster.
 */
export function espGeometry(sizeBytes: number, where: EspPlacement = {}): EspGeometry {
  const spc = sectorsPerCluster(sizeBytes);
  const sectors = fatSectorsFor(mkfsBlockCount(sizeBytes, where), where, sizeBytes);
  const reserved = 32; // a multiple of every cluster size used here, so alignment leaves it as is
  const fatData = sectors - reserved;
  const align = (n: number) => Math.ceil(n / spc) * spc;
  // mkfs.fat: a first guess of the cluster count, FATs sized for it, then the count that really fits.
  const guess = Math.floor((fatData * SECTOR + 2 * 8) / (spc * SECTOR + 2 * 4));
  const fatSectors = align(Math.ceil(((guess + 2) * 4) / SECTOR));
  const clusters = Math.floor((fatData - 2 * fatSectors) / spc);
  return { sectors, sectorsPerCluster: spc, clusterBytes: spc * SECTOR, reservedSectors: reserved, fatSectors, clusters };
}

/** The sectors mkfs.fat gives a file system of `kib` 1 KiB blocks at `where` (see espGeometry). */
function fatSectorsFor(kib: number, where: EspPlacement, sizeBytes: number): number {
  const offsetBytes = where.offsetBytes ?? 0;
  const imageBytes = where.imageBytes ?? offsetBytes + sizeBytes;
  const orphaned = Math.floor(((imageBytes - offsetBytes) % 1024) / SECTOR);
  const secsTrack = Math.floor(imageBytes / SECTOR) <= 524288 ? 32 : 63;
  return Math.floor((kib * 2 + orphaned) / secsTrack) * secsTrack;
}

/**
 * The 1 KiB block count makeEsp passes mkfs.vfat: the ESP's size, one less when mkfs.fat's odd
 * sector would otherwise make the file system end one sector past the partition (an even-sector ESP
 * in a file whose rest is odd, where the sum lands on a whole track).
 */
export function mkfsBlockCount(sizeBytes: number, where: EspPlacement = {}): number {
  const kib = Math.floor(sizeBytes / 1024);
  return fatSectorsFor(kib, where, sizeBytes) * SECTOR > sizeBytes ? kib - 1 : kib;
}

/** Bytes free for files on a freshly formatted ESP (what `mdir` reports): every cluster but the root's. */
export function espCapacityBytes(sizeBytes: number, where: EspPlacement = {}): number {
  const g = espGeometry(sizeBytes, where);
  return (g.clusters - 1) * g.clusterBytes;
}

/** A name mtools stores as a plain 8.3 entry, without long-name entries. */
function isShortName(name: string): boolean {
  return /^[A-Z0-9_~!#$%&'()@^`{}-]{1,8}(\.[A-Z0-9_~!#$%&'()@^`{}-]{1,3})?$/.test(name);
}

/**
 * Bytes `files` take on an ESP with `clusterBytes` clusters, as makeEsp writes them: each file rounded
 * up to whole clusters, each folder its clusters of 32-byte entries ("." and "..", then one entry per
 * child plus one per 13 characters of a long name), and the root's entries beyond its first cluster
 * (which espCapacityBytes already counts as used). Compare with espCapacityBytes. An upper bound:
 * every name that is not upper-case 8.3 is counted with long-name entries, which mtools may spare
 * for an all-lower-case name.
 */
export function espBytesNeeded(files: readonly { path: string; size: number }[], clusterBytes: number): number {
  const children = new Map<string, Set<string>>([['', new Set()]]);
  let bytes = 0;
  for (const f of files) {
    const parts = checkPath(f.path);
    for (let i = 0; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('/');
      if (!children.has(parent)) children.set(parent, new Set());
      children.get(parent)!.add(parts[i]);
    }
    bytes += Math.ceil(f.size / clusterBytes) * clusterBytes;
  }
  for (const [dir, names] of children) {
    let entries = dir === '' ? 1 : 2; // the root holds the volume label; a folder holds "." and ".."
    for (const n of names) entries += 1 + (isShortName(n) ? 0 : Math.ceil(n.length / 13));
    const clusters = Math.ceil((entries * 32) / clusterBytes);
    bytes += (dir === '' ? clusters - 1 : clusters) * clusterBytes;
  }
  return bytes;
}
