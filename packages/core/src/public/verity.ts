/**
 * `@imgbuild/core/verity`: the dm-verity engine alone, for programs that seal or check data outside an
 * image. {@link formatVerity} writes a hash tree byte-identical to `veritysetup format`, streaming and
 * on worker threads; {@link verifyVerity} checks data against a tree and a root hash. Below them, the
 * tree's geometry and the superblock codec (pure). Loads no zod, no image builder.
 *
 * @example
 * ```ts
 * import { formatVerity, verifyVerity } from '@imgbuild/core/verity';
 *
 * const { rootHash } = await formatVerity({ dataPath: 'usr.img', hashPath: 'usr.verity' });
 * const r = await verifyVerity({ dataPath: 'usr.img', hashPath: 'usr.verity', rootHash });
 * console.log(r.ok ? `sealed: ${rootHash}` : `${r.region}: ${r.message}`);
 * ```
 *
 * @module verity
 */
export { formatVerity, type FormatVerityOptions, type FormatVerityResult } from '../verity/format.js';
export { verifyVerity, readVeritySuperblock, type VerifyVerityOptions, type VerifyVerityResult } from '../verity/verify.js';
export type { VerityFailure, VerityRegion } from '../verity/tree.js';
export {
  DEFAULT_VERITY_PARAMS,
  SUPERBLOCK_SIZE,
  maxDataBlocks,
  verityGeometry,
  verityHashAreaSize,
  verityLayout,
  type VerityGeometry,
  type VerityHash,
  type VerityLayout,
  type VerityLevel,
  type VerityParams,
} from '../verity/geometry.js';
export { encodeVeritySuperblock, decodeVeritySuperblock, superblockParams, type VeritySuperblock } from '../verity/superblock.js';
export { slotHashOffset } from '../verity/slot-area.js';
export { checkSeed, deriveBytes, deriveUuid } from '../guid.js';
export type { ProgressFn } from '../progress.js';
