/**
 * A layout is data: the single truth for where every partition lives. This file holds its shape and
 * the parsing of sizes; `plan.ts` turns a spec into exact sectors.
 */
import { LayoutError } from '../errors.js';

/**
 * What a partition is for: the ESP, BIOS boot, a /usr slot, Flatcar's OEM partitions, the root
 * filesystem, or data. Layouts name it, the build and verify act on it.
 *
 * @example
 * ```ts
 * const esp = plan.partitions.find((p) => p.role === 'esp');
 * ```
 */
export type Role = 'esp' | 'bios-boot' | 'usr-slot' | 'oem' | 'oem-config' | 'root' | 'data';
export const ROLES: readonly Role[] = ['esp', 'bios-boot', 'usr-slot', 'oem', 'oem-config', 'root', 'data'];

/**
 * Sizes: bytes as a number, a string with a unit (`128MiB`, `2G`), `{ sectors: N }`, or `"rest"`.
 *
 * @example
 * ```ts
 * const sizes: SizeSpec[] = [134217728, '128MiB', '1.5G', { sectors: 262144 }, 'rest'];
 * ```
 */
export type SizeSpec = number | string | { sectors: number };

/**
 * One partition of a {@link LayoutSpec}, as written in a layout file.
 *
 * @example
 * ```ts
 * const p: PartitionSpec = { number: 3, label: 'USR-A', type: 'flatcar-usr', size: '1GiB', attributes: { priority: 1, successful: true } };
 * ```
 */
export interface PartitionSpec {
  number: number;
  label: string;
  /** Type GUID or alias (`efi`, `flatcar-usr`, `usr-x86-64`, ...). */
  type: string;
  /** Fixed partition UUID; otherwise derived from the seed. */
  uuid?: string;
  size: SizeSpec;
  /** Fixed start sector; otherwise the next aligned sector after the previous partition. */
  start?: number;
  /** Attribute bits: number, hex string, or `{ priority, tries, successful, readOnly, ... }`. */
  attributes?: unknown;
  role?: Role;
}

/**
 * A layout as written in a layout file (JSON): the disk and its partitions. {@link planLayout} places
 * it; {@link loadLayout} reads and places a file or a built-in one.
 *
 * @example
 * ```ts
 * const spec: LayoutSpec = JSON.parse(await readFile('layout.json', 'utf8'));
 * const plan = planLayout(spec, 'layout.json');
 * ```
 */
export interface LayoutSpec {
  name?: string;
  description?: string;
  sectorSize?: 512 | 4096;
  /** Partition alignment (a size; default 2 MiB, Flatcar's 4096 sectors of 512 bytes). */
  alignment?: SizeSpec;
  /** Whole disk size, or "auto" (end of the last partition plus the backup GPT, aligned). */
  diskSize?: SizeSpec | 'auto';
  /** Fixed disk GUID; otherwise derived from the seed. */
  diskGuid?: string;
  entryCount?: number;
  partitions: PartitionSpec[];
}

const UNITS: Record<string, number> = {
  '': 1, b: 1,
  k: 1024, kb: 1000, kib: 1024,
  m: 1024 ** 2, mb: 1000 ** 2, mib: 1024 ** 2,
  g: 1024 ** 3, gb: 1000 ** 3, gib: 1024 ** 3,
  t: 1024 ** 4, tb: 1000 ** 4, tib: 1024 ** 4,
};

/** Sizes are exact byte counts in a double: beyond 2^53 - 1 (8 PiB) they would round. */
const tooLarge = (what: string, s: string) => new LayoutError(`${what}: ${s} is too large (at most ${Number.MAX_SAFE_INTEGER} bytes, about 8 PiB)`);

/**
 * Parses a byte size such as `128MiB`, `1G`, `4096`, `1.5GiB`.
 *
 * @example
 * ```ts
 * parseBytes('128MiB'); // 134217728
 * parseBytes('1G'); // 1073741824
 * ```
 */
export function parseBytes(s: string | number, what = 'size'): number {
  if (typeof s === 'number') {
    if (Number.isInteger(s) && s > Number.MAX_SAFE_INTEGER) throw tooLarge(what, String(s));
    if (!Number.isSafeInteger(s) || s < 0) throw new LayoutError(`${what}: ${s} is not a whole number of bytes`);
    return s;
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(s);
  const unit = m ? UNITS[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new LayoutError(`${what}: cannot parse size ${JSON.stringify(s)} (try 128MiB, 2GiB or a byte count)`);
  const bytes = Number(m[1]) * unit;
  if (bytes > Number.MAX_SAFE_INTEGER) throw tooLarge(what, JSON.stringify(s));
  if (!Number.isSafeInteger(bytes)) throw new LayoutError(`${what}: ${JSON.stringify(s)} is not a whole number of bytes`);
  return bytes;
}

/** Size in sectors, or 'rest'. */
export function sizeToSectors(size: SizeSpec, sectorSize: number, what: string): number | 'rest' {
  if (size === 'rest') return 'rest';
  if (typeof size === 'object' && size !== null) {
    if (!Number.isSafeInteger(size.sectors) || size.sectors <= 0) throw new LayoutError(`${what}: sectors must be a positive integer`);
    return size.sectors;
  }
  const bytes = parseBytes(size, what);
  if (bytes === 0) throw new LayoutError(`${what}: size is zero`);
  if (bytes % sectorSize !== 0) throw new LayoutError(`${what}: ${bytes} bytes is not a multiple of the ${sectorSize}-byte sector`);
  return bytes / sectorSize;
}

/**
 * A byte count for people: the largest binary unit that keeps it readable.
 *
 * @example
 * ```ts
 * formatBytes(134217728); // '128 MiB'
 * ```
 */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1 && v % 1024 === 0) {
    v /= 1024;
    i++;
  }
  if (i === 0 && n >= 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${v} ${units[i]}`;
}
