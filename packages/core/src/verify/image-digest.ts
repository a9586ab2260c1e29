/**
 * The image's identity digest, recorded in the manifest as `image.digest`: the dm-verity root hash of
 * the whole raw image file (sha256, 4096-byte data and hash blocks, hash type 1, no salt, no
 * superblock), which anyone recomputes with `veritysetup format --no-superblock --salt=- IMAGE HASHFILE`.
 * Unlike a plain sha256 its cost follows the bytes written, not the disk's size: holes are known
 * all-zero subtrees (verity/sparse.ts). Where the data lies comes from the filesystem (FIEMAP, read
 * through e2fsprogs' `filefrag`), else from the caller (the ranges a build wrote), else the whole file
 * is read.
 */
import type { ProgressFn } from '../progress.js';
import { promises as fsp } from 'node:fs';
import { verityLayout, type VerityParams } from '../verity/geometry.js';
import type { SlotManifest } from '../manifest/manifest.js';
import { clipExtents as clip, dataExtents } from '../extents.js';

export { dataExtents, parseFilefrag } from '../extents.js';
import { leafGroups, sharesDigestLeaves } from '../verity/leaf-groups.js';
import { GROUP_BYTES, groupCounts, groupRanges, hashGroupRanges, sparseVerityRoot, subtractRanges, type Extent, type GroupSet } from '../verity/sparse.js';

export const IMAGE_DIGEST_ALGORITHM = 'dm-verity-sha256-4k-nosalt' as const;
export const IMAGE_DIGEST_RECOMPUTE =
  'veritysetup format --no-superblock --salt=- --hash=sha256 --data-block-size=4096 --hash-block-size=4096 IMAGE HASHFILE  (prints it as "Root hash")';

export interface ImageDigestRecord {
  algorithm: typeof IMAGE_DIGEST_ALGORITHM;
  rootHash: string;
  /** 4096-byte blocks covered: the image's size in whole blocks, as veritysetup counts them. */
  dataBlocks: number;
  recompute: string;
}

export interface ImageDigestOptions {
  /** Ranges the caller vouches hold every non-zero byte (a sparse file it created); used when FIEMAP is unavailable. */
  written?: readonly Extent[];
  jobs?: number;
  onProgress?: ProgressFn;
}

export type ImageDigestResult = ImageDigestRecord & { bytesHashed: number; extentsFrom: 'fiemap' | 'written' | 'whole file' };

export async function imageDigest(path: string, o: ImageDigestOptions = {}): Promise<ImageDigestResult> {
  return new ImageDigester(path, o).finish();
}


/**
 * The digest in parts: `region()` starts hashing, in worker threads, a byte range the caller will not
 * write again (a slot once its tree is written, a partition an update does not touch), while this
 * thread goes on with other work (the ESP, the GPT, the manifest's records); `finish()` hashes
 * whatever data is left and builds the tree. The same root as `imageDigest` alone.
 */
export class ImageDigester {
  private readonly pending: Array<Promise<GroupSet>> = [];
  constructor(
    readonly path: string,
    private readonly o: ImageDigestOptions = {},
  ) {}

  /** Group ranges given by sealed(): region() leaves them out. */
  private readonly claimed: Array<[number, number]> = [];

  /** Whole groups inside [offset, offset + length): a group straddling an edge may still change outside it. */
  private inner(offset: number, length: number, fullGroups: number): [number, number] {
    return [Math.ceil(offset / GROUP_BYTES), Math.min(fullGroups, Math.floor((offset + length) / GROUP_BYTES))];
  }

  /** Starts hashing the data of [offset, offset + length), whose bytes must not change from now on. */
  region(offset: number, length: number): void {
    const p = (async () => {
      const { fullGroups } = groupCounts((await fsp.stat(this.path)).size);
      const [g0, g1] = this.inner(offset, length, fullGroups);
      if (g1 <= g0) return { ranges: [], digests: new Uint8Array(0), bytes: 0 };
      const inner: Extent = [g0 * GROUP_BYTES, (g1 - g0) * GROUP_BYTES];
      const ext = (await dataExtents(this.path)) ?? this.o.written ?? [inner];
      const ranges = subtractRanges(groupRanges(clip(ext, ...inner), g1), this.claimed);
      return hashGroupRanges(this.path, ranges, { jobs: this.o.jobs, background: true });
    })();
    p.catch(() => {}); // reported by finish()
    this.pending.push(p);
  }

  /**
   * Groups whose entries the caller already has (a slot's, from its tree: verity/leaf-groups.ts):
   * taken as they are, and left out of every region() and of finish()'s own hashing.
   */
  sealed(set: GroupSet): void {
    this.claimed.push(...set.ranges);
    this.pending.push(Promise.resolve(set));
  }

  /**
   * Starts hashing a slot partition at [offset, offset + size) whose bytes must not change from now on.
   * The whole groups of its data come from its tree's leaf level when that tree is the digest's kind
   * and hashes up to `tree.rootHash` (verity/leaf-groups.ts); the rest (the data's last partial group,
   * the hash area, any bytes after them) is read. Says whether the tree was used.
   */
  slot(offset: number, size: number, tree: SealedTree): boolean {
    const layout = verityLayout(tree.dataBlocks, tree.params, offset + tree.hashOffset);
    const set = sharesDigestLeaves(layout, tree.salt, offset) ? leafGroups(this.path, layout, offset, tree.rootHash) : null;
    if (set) this.sealed(set);
    this.region(offset, size);
    return set !== null;
  }

  /** Waits for the threads started so far (a failure is reported by finish()). */
  async settle(): Promise<void> {
    await Promise.allSettled(this.pending);
  }

  /** Waits for the regions, hashes the rest of the data, returns the root. */
  async finish(): Promise<ImageDigestResult> {
    const precomputed = await Promise.all(this.pending);
    const fiemap = await dataExtents(this.path);
    const extents = fiemap ?? this.o.written ?? null;
    const r = await sparseVerityRoot({ path: this.path, extents, precomputed, jobs: this.o.jobs, onProgress: this.o.onProgress });
    return {
      algorithm: IMAGE_DIGEST_ALGORITHM,
      rootHash: r.rootHash,
      dataBlocks: r.dataBlocks,
      recompute: IMAGE_DIGEST_RECOMPUTE,
      bytesHashed: r.bytesHashed,
      extentsFrom: fiemap ? 'fiemap' : this.o.written ? 'written' : 'whole file',
    };
  }
}

/** What the slot's manifest record says of its tree (hashOffset from the partition start). */
export interface SealedTree {
  rootHash: string;
  salt: string;
  hashOffset: number;
  dataBlocks: number;
  params: VerityParams;
}

/** A slot's tree as its manifest record describes it (imgbuild's slot trees have a superblock). */
export function sealedTreeOf(m: SlotManifest): SealedTree {
  return {
    rootHash: m.rootHash,
    salt: m.salt ?? '',
    hashOffset: m.hashOffset,
    dataBlocks: m.dataBlocks,
    params: { hash: m.hash, hashType: m.hashType, dataBlockSize: m.dataBlockSize, hashBlockSize: m.hashBlockSize, superblock: true },
  };
}

/** What the manifest keeps of it. */
export function digestRecord(d: ImageDigestRecord): ImageDigestRecord {
  return { algorithm: d.algorithm, rootHash: d.rootHash, dataBlocks: d.dataBlocks, recompute: d.recompute };
}
