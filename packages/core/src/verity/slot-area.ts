/**
 * Where a /usr slot keeps its verity superblock: a fact of the partition size alone (the Flatcar way),
 * shared by the writer (image/) and the readers that ask whether a slot holds a /usr (slot/), so it
 * lives here, below both.
 */
import { DEFAULT_VERITY_PARAMS, maxDataBlocks } from './geometry.js';

/**
 * Bytes from a slot partition's start to its verity superblock: the largest data area whose tree still fits.
 *
 * @example
 * ```ts
 * slotHashOffset(1 << 30); // 1065345024: the largest data area whose tree fits in 1 GiB
 * ```
 */
export function slotHashOffset(partitionBytes: number): number {
  return maxDataBlocks(partitionBytes) * DEFAULT_VERITY_PARAMS.dataBlockSize;
}
