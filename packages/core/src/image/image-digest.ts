/**
 * The image's identity digest, recorded in the manifest as `image.digest`: the dm-verity root hash of
 * the whole raw image file (sha256, 4096-byte data and hash blocks, hash type 1, no salt, no
 * superblock), which anyone recomputes with `veritysetup format --no-superblock --salt=- IMAGE HASHFILE`.
 * Unlike a plain sha256 its cost follows the bytes written, not the disk's size: holes are known
 * all-zero subtrees (verity/sparse.ts). Where the data lies comes from the filesystem (FIEMAP, read
 * through e2fsprogs' `filefrag`), else from the caller (the ranges a build wrote), else the whole file
 * is read.
 */
import { execFile } from 'node:child_process';
import type { ProgressFn } from '../progress.js';
import { sparseVerityRoot, type Extent } from '../verity/sparse.js';

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

/**
 * The file's data extents (byte ranges that may hold non-zero bytes) from FIEMAP via `filefrag -e`,
 * or null when it cannot tell (not installed, a filesystem without FIEMAP, output not understood).
 * Delayed-allocation and unwritten extents are listed too: reading them costs only what they hold.
 */
export function dataExtents(path: string): Promise<Extent[] | null> {
  return new Promise((resolve) => {
    execFile('filefrag', ['-e', '-b1', path], { maxBuffer: 64 << 20, env: { ...process.env, LC_ALL: 'C' } }, (err, stdout) => resolve(err ? null : parseFilefrag(stdout)));
  });
}

/** `filefrag -e -b1` output → byte extents, or null when it is not that table. */
export function parseFilefrag(stdout: string): Extent[] | null {
  const lines = stdout.split('\n');
  const header = lines.findIndex((l) => /^\s*ext:\s+logical_offset:/.test(l));
  const total = /: (\d+) extents? found\s*$/m.exec(stdout);
  if (!total) return null;
  if (header < 0) return Number(total[1]) === 0 ? [] : null;
  const out: Extent[] = [];
  for (const l of lines.slice(header + 1)) {
    const m = /^\s*\d+:\s+(\d+)\.\.\s*(\d+):/.exec(l);
    if (m) out.push([Number(m[1]), Number(m[2]) - Number(m[1]) + 1]);
  }
  // filefrag counts logically contiguous extents as one ("N extents found"): there may be more lines.
  return out.length >= Number(total[1]) ? out : null;
}

export interface ImageDigestOptions {
  /** Ranges the caller vouches hold every non-zero byte (a sparse file it created); used when FIEMAP is unavailable. */
  written?: readonly Extent[];
  jobs?: number;
  onProgress?: ProgressFn;
}

export async function imageDigest(
  path: string,
  o: ImageDigestOptions = {},
): Promise<ImageDigestRecord & { bytesHashed: number; extentsFrom: 'fiemap' | 'written' | 'whole file' }> {
  const fiemap = await dataExtents(path);
  const extents = fiemap ?? o.written ?? null;
  const r = await sparseVerityRoot({ path, extents, jobs: o.jobs, onProgress: o.onProgress });
  return {
    algorithm: IMAGE_DIGEST_ALGORITHM,
    rootHash: r.rootHash,
    dataBlocks: r.dataBlocks,
    recompute: IMAGE_DIGEST_RECOMPUTE,
    bytesHashed: r.bytesHashed,
    extentsFrom: fiemap ? 'fiemap' : o.written ? 'written' : 'whole file',
  };
}

/** What the manifest keeps of it. */
export function digestRecord(d: ImageDigestRecord): ImageDigestRecord {
  return { algorithm: d.algorithm, rootHash: d.rootHash, dataBlocks: d.dataBlocks, recompute: d.recompute };
}
