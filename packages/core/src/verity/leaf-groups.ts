/**
 * A sealed slot's share of the image digest, taken from the slot's own tree instead of its data.
 *
 * The image digest (sparse.ts) hashes the whole image in groups of 128 data blocks: a group's entry
 * is sha256 of the level-0 hash block holding its 128 block digests. A slot tree with the same
 * parameters (sha256, hash type 1, 4096-byte blocks, no salt) whose data starts on a group boundary
 * has already computed exactly those level-0 hash blocks, and stored them in its hash area. So each of
 * its whole groups costs one digest of a 4 KiB block instead of 128: 1 GiB of /usr adds 8 MiB of
 * hashing to the image digest, not 1 GiB.
 *
 * The leaf level is taken only after it is hashed up to the slot's root hash, so what enters the
 * digest is what that root seals: the /usr bytes the slot was built from.
 */
import { hash as oneShotHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import type { VerityLayout } from './geometry.js';
import { GROUP_BYTES, PER, SPARSE_BLOCK, type GroupSet } from './sparse.js';

const sha256 = (b: Uint8Array): Buffer => oneShotHash('sha256', b, 'buffer') as unknown as Buffer;

/** Whether a slot's tree computes the image digest's level-0 hash blocks for its data. */
export function sharesDigestLeaves(layout: Pick<VerityLayout, 'params' | 'levels'>, salt: string, dataOffset: number): boolean {
  const p = layout.params;
  return (
    p.hash === 'sha256' && p.hashType === 1 && p.dataBlockSize === SPARSE_BLOCK && p.hashBlockSize === SPARSE_BLOCK && salt === '' && dataOffset % GROUP_BYTES === 0 && layout.levels.length > 0
  );
}

/** The digest of each block of `blocks` (4096 bytes each), packed. */
function blockDigests(blocks: Buffer): Buffer {
  const n = blocks.length / SPARSE_BLOCK;
  const out = Buffer.alloc(n * 32);
  for (let i = 0; i < n; i++) sha256(blocks.subarray(i * SPARSE_BLOCK, (i + 1) * SPARSE_BLOCK)).copy(out, i * 32);
  return out;
}

/** The root hash of a tree whose level-1 entries are `entries` (packed digests) and which has `levels` levels. */
export function rootFromLeafDigests(entries: Buffer, levels: number): Buffer {
  let e = entries;
  for (let l = 1; l < levels; l++) {
    // The next level's hash blocks: PER digests each, the last one zero padded.
    const blocks = Buffer.alloc(Math.ceil(e.length / 32 / PER) * SPARSE_BLOCK);
    e.copy(blocks);
    e = blockDigests(blocks);
  }
  if (e.length !== 32) throw new Error(`internal: ${e.length / 32} top-level entries`);
  return e;
}

/** Leaf blocks read at a time: the leaf level of a large slot (64 MiB for 8 GiB) is never in memory whole. */
const CHUNK_BLOCKS = 64;

/** The digest of each of `blocks` 4096-byte blocks of `path` from `offset`, read in chunks. */
function digestsOfBlocksAt(path: string, offset: number, blocks: number): Buffer {
  const out = Buffer.alloc(blocks * 32);
  const chunk = Buffer.alloc(Math.min(blocks, CHUNK_BLOCKS) * SPARSE_BLOCK);
  const fd = openSync(path, 'r');
  try {
    for (let b = 0; b < blocks; b += CHUNK_BLOCKS) {
      const n = Math.min(CHUNK_BLOCKS, blocks - b);
      const view = chunk.subarray(0, n * SPARSE_BLOCK);
      for (let done = 0; done < view.length; ) {
        const r = readSync(fd, view, done, view.length - done, offset + b * SPARSE_BLOCK + done);
        if (r === 0) throw new Error(`${path}: ends inside the hash area at ${offset + b * SPARSE_BLOCK + done}`);
        done += r;
      }
      blockDigests(view).copy(out, b * 32);
    }
  } finally {
    closeSync(fd);
  }
  return out;
}

/**
 * The image digest's entries for the whole groups of a slot's data, read from its leaf level at
 * `layout` in `path` (data at `dataOffset`), or null when the leaf level does not hash up to
 * `rootHash` (then the data must be hashed itself). Check `sharesDigestLeaves` first.
 */
export function leafGroups(path: string, layout: VerityLayout, dataOffset: number, rootHash: string): GroupSet | null {
  const leafBlocks = layout.levels[0].blocks;
  const entries = digestsOfBlocksAt(path, layout.levelOffsets[0], leafBlocks);
  if (!rootFromLeafDigests(entries, layout.levels.length).equals(Buffer.from(rootHash, 'hex'))) return null;
  const g0 = dataOffset / GROUP_BYTES;
  const whole = Math.floor(layout.dataBlocks / PER);
  return { ranges: whole > 0 ? [[g0, g0 + whole]] : [], digests: entries.subarray(0, whole * 32), bytes: leafBlocks * SPARSE_BLOCK };
}
