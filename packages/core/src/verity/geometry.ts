/**
 * The one place the dm-verity hash-area geometry is computed (as cryptsetup's hash_levels): how many
 * levels, where each level starts and how many hash blocks it holds. Used both to size partitions
 * (layout planning) and to write/verify trees, so the two can never disagree.
 */
import { UsageError } from '../errors.js';

/**
 * The hash a verity tree uses (dm-verity's and veritysetup's names).
 *
 * @example
 * ```ts
 * await formatVerity({ dataPath: 'usr.img', hashPath: 'usr.verity', params: { hash: 'sha512' satisfies VerityHash } });
 * ```
 */
export type VerityHash = 'sha256' | 'sha512' | 'sha1';

/**
 * A verity tree's parameters, as `veritysetup format` takes them.
 *
 * @example
 * ```ts
 * const params: VerityParams = { ...DEFAULT_VERITY_PARAMS, hashType: 0, superblock: false }; // Chrome OS style
 * ```
 */
export interface VerityParams {
  hash: VerityHash;
  dataBlockSize: number;
  hashBlockSize: number;
  /** 1 = normal (salt first, digests padded to a power of two), 0 = Chrome OS (block first, packed). */
  hashType: 0 | 1;
  /** Whether a 512-byte superblock precedes the tree. */
  superblock: boolean;
}

/**
 * veritysetup's defaults: sha256, 4096-byte data and hash blocks, format 1, with a superblock.
 *
 * @example
 * ```ts
 * await formatVerity({ dataPath: 'usr.img', hashPath: 'usr.verity', params: { ...DEFAULT_VERITY_PARAMS, dataBlockSize: 512 } });
 * ```
 */
export const DEFAULT_VERITY_PARAMS: VerityParams = {
  hash: 'sha256',
  dataBlockSize: 4096,
  hashBlockSize: 4096,
  hashType: 1,
  superblock: true,
};

export const DIGEST_SIZE: Readonly<Record<VerityHash, number>> = { sha1: 20, sha256: 32, sha512: 64 };

/**
 * The bytes of a verity superblock (it occupies a whole hash block on disk).
 *
 * @example
 * ```ts
 * const sb = decodeVeritySuperblock(await storage.readAt(hashOffset, SUPERBLOCK_SIZE));
 * ```
 */
export const SUPERBLOCK_SIZE = 512;

/**
 * One level of a verity tree: where it starts in the hash area and how many hash blocks it holds.
 *
 * @example
 * ```ts
 * for (const l of verityGeometry(262144).levels) console.log(l.level, l.startBlock, l.blocks);
 * ```
 */
export interface VerityLevel {
  /** 0 is the leaf level (hashes of data blocks); the last is the top (one block). */
  level: number;
  /** First hash block of the level, counted in hash blocks from the hash offset. */
  startBlock: number;
  blocks: number;
}

/**
 * The shape of a verity tree for a number of data blocks: its levels and the hash area's size.
 *
 * @example
 * ```ts
 * const g: VerityGeometry = verityGeometry(262144); // 1 GiB of 4 KiB blocks
 * console.log(g.levels.length, g.hashAreaSize); // 3 8462336
 * ```
 */
export interface VerityGeometry {
  params: VerityParams;
  dataBlocks: number;
  digestSize: number;
  /** Bytes one digest occupies in a hash block (padded to a power of two for hash type 1). */
  digestSlot: number;
  hashesPerBlock: number;
  hashesPerBlockBits: number;
  /** Levels, leaf first. Empty when there is a single data block. */
  levels: VerityLevel[];
  /** Hash blocks the superblock occupies at the start of the hash area (0 or 1+). */
  superblockBlocks: number;
  /** Total bytes of the hash area: superblock blocks plus every level. */
  hashAreaSize: number;
}

function isPow2(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

export function checkParams(p: VerityParams): void {
  for (const [name, v] of [['data block size', p.dataBlockSize], ['hash block size', p.hashBlockSize]] as const) {
    if (!isPow2(v) || v < 512 || v > 512 * 1024) throw new UsageError(`${name} must be a power of two from 512 to 524288, got ${v}`);
  }
  if (!(p.hash in DIGEST_SIZE)) throw new UsageError(`unsupported hash algorithm ${p.hash}`);
  if (p.hashType !== 0 && p.hashType !== 1) throw new UsageError(`hash type must be 0 or 1, got ${p.hashType}`);
}

/**
 * How digests sit in a hash block: each takes `slot` bytes (type 1 pads it to a power of two, type 0
 * packs them), and a block holds 2^bits of them: cryptsetup's 2^floor(log2(hash_block_size /
 * digest_size)), which for power-of-two block sizes equals the padded slot's count. The one place the
 * geometry and the hasher both read it from.
 */
export function digestPacking(hash: VerityHash, hashType: 0 | 1, hashBlockSize: number): { digestSize: number; slot: number; perBlockBits: number; perBlock: number } {
  const digestSize = DIGEST_SIZE[hash];
  const perBlockBits = Math.floor(Math.log2(hashBlockSize / digestSize));
  return { digestSize, slot: hashType === 1 ? 2 ** Math.ceil(Math.log2(digestSize)) : digestSize, perBlockBits, perBlock: 2 ** perBlockBits };
}

/**
 * The levels and size of the tree over `dataBlocks` data blocks, as cryptsetup computes them.
 *
 * @example
 * ```ts
 * verityGeometry(256).hashAreaSize; // 16384: the superblock, two leaf blocks and the top
 * ```
 */
export function verityGeometry(dataBlocks: number, params: VerityParams = DEFAULT_VERITY_PARAMS): VerityGeometry {
  checkParams(params);
  if (!Number.isSafeInteger(dataBlocks) || dataBlocks < 1) throw new UsageError(`data must hold at least one block, got ${dataBlocks}`);
  const { digestSize, slot: digestSlot, perBlockBits: hashesPerBlockBits, perBlock: hashesPerBlock } = digestPacking(params.hash, params.hashType, params.hashBlockSize);
  const superblockBlocks = params.superblock ? Math.ceil(SUPERBLOCK_SIZE / params.hashBlockSize) : 0;

  let levelCount = 0;
  while (hashesPerBlockBits * levelCount < 64 && Math.floor((dataBlocks - 1) / 2 ** (hashesPerBlockBits * levelCount)) > 0) levelCount++;

  // Stored top-down: the top level first, right after the superblock; the leaf level last.
  const levels: VerityLevel[] = new Array(levelCount);
  let position = superblockBlocks;
  for (let i = levelCount - 1; i >= 0; i--) {
    const blocks = Math.ceil(dataBlocks / 2 ** ((i + 1) * hashesPerBlockBits));
    levels[i] = { level: i, startBlock: position, blocks };
    position += blocks;
  }
  return {
    params,
    dataBlocks,
    digestSize,
    digestSlot,
    hashesPerBlock,
    hashesPerBlockBits,
    levels,
    superblockBlocks,
    hashAreaSize: position * params.hashBlockSize,
  };
}

/**
 * Bytes of hash area (superblock included when configured) needed for `dataBytes` of data.
 *
 * @example
 * ```ts
 * verityHashAreaSize(1 << 30); // 8462336 for 1 GiB of data with the default parameters
 * ```
 */
export function verityHashAreaSize(dataBytes: number, params: VerityParams = DEFAULT_VERITY_PARAMS): number {
  return verityGeometry(Math.ceil(dataBytes / params.dataBlockSize), params).hashAreaSize;
}

/**
 * The largest number of data blocks whose data plus hash area fit in `areaBytes` (a slot partition),
 * the Flatcar way of fixing the hash offset per partition size (1 GiB → 260094 blocks).
 *
 * @example
 * ```ts
 * maxDataBlocks(1 << 30); // 260094
 * ```
 */
export function maxDataBlocks(areaBytes: number, params: VerityParams = DEFAULT_VERITY_PARAMS): number {
  let lo = 1;
  let hi = Math.floor(areaBytes / params.dataBlockSize);
  const fits = (n: number) => n * params.dataBlockSize + verityGeometry(n, params).hashAreaSize <= areaBytes;
  if (hi < 1 || !fits(lo)) throw new UsageError(`an area of ${areaBytes} bytes cannot hold data and its hash tree`);
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (fits(mid)) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/**
 * The geometry placed at a concrete hash offset: absolute byte offsets of the tree and every level.
 *
 * @example
 * ```ts
 * const l: VerityLayout = verityLayout(256, DEFAULT_VERITY_PARAMS, 1048576);
 * console.log(l.treeOffset, l.end); // 1052672 1064960
 * ```
 */
export interface VerityLayout extends VerityGeometry {
  /** Absolute byte offset of the hash area (where the superblock goes, if any). */
  hashOffset: number;
  /** Absolute byte offset of the first tree block (the top level). */
  treeOffset: number;
  /** Absolute byte offset of each level, leaf first (parallel to `levels`). */
  levelOffsets: number[];
  /** Absolute byte offset just past the hash area. */
  end: number;
  /** Bytes from `hashOffset` to `end`. */
  size: number;
  /**
   * Where veritysetup's writes end in a hash *file*: `end`, except when there is no tree (a single
   * data block), where it writes just the superblock's first min(hash block, 4096) bytes, so its file
   * is shorter than the superblock's hash block (65536-byte hash blocks: a 4096-byte file).
   */
  writtenEnd: number;
}

/**
 * Places the geometry at `hashOffset` as veritysetup does: with a superblock the offset must be a
 * multiple of 512 and the tree starts at the first hash-block boundary of the file after the 512-byte
 * superblock (`ceil((offset + 512) / hash_block_size)`), which for an unaligned offset is less than a
 * whole hash block later. Without a superblock veritysetup silently rounds an unaligned offset *down*
 * (writing before it); we refuse such an offset instead.
 *
 * @example
 * ```ts
 * verityLayout(256, DEFAULT_VERITY_PARAMS, 1048576).end; // 1064960
 * ```
 */
export function verityLayout(dataBlocks: number, params: VerityParams, hashOffset: number): VerityLayout {
  const g = verityGeometry(dataBlocks, params);
  const hbs = params.hashBlockSize;
  if (!Number.isSafeInteger(hashOffset) || hashOffset < 0) throw new UsageError(`hash offset must be a non-negative integer, got ${hashOffset}`);
  if (params.superblock && hashOffset % 512 !== 0) throw new UsageError(`hash offset ${hashOffset} is not a multiple of 512`);
  if (!params.superblock && hashOffset % hbs !== 0) throw new UsageError(`hash offset ${hashOffset} is not a multiple of the hash block size ${hbs} (needed without a superblock)`);
  const treeOffset = params.superblock ? Math.ceil((hashOffset + SUPERBLOCK_SIZE) / hbs) * hbs : hashOffset;
  const levelOffsets = g.levels.map((l) => treeOffset + (l.startBlock - g.superblockBlocks) * hbs);
  const treeBlocks = g.levels.reduce((n, l) => n + l.blocks, 0);
  const end = treeOffset + treeBlocks * hbs;
  const writtenEnd = g.levels.length > 0 || !params.superblock ? end : hashOffset + Math.min(hbs, 4096);
  return { ...g, hashOffset, treeOffset, levelOffsets, end, size: end - hashOffset, writtenEnd };
}
