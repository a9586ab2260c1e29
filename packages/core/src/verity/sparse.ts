/**
 * The dm-verity root hash of a whole file whose cost follows its data, not its size: what
 * `veritysetup format --no-superblock --salt=- FILE HASHFILE` prints (sha256, 4096/4096, hash type 1,
 * no salt), computed without reading the holes.
 *
 * A hole is all zero, so its subtrees are known: every data block of it hashes to Z0 = sha256(4096
 * zeros), a full level-0 hash block of those to Z1 = sha256(128 x Z0), and so on. The file is cut into
 * groups of 128 data blocks (512 KiB, one level-0 hash block each); groups that hold data are read and
 * hashed (by worker threads, from a shared counter: `hashGroups`), each giving one 32-byte entry of
 * level 1; runs of hole groups are pushed into the tree as runs of Z1, and a run of 128^k aligned
 * entries at any level collapses into one entry of the level k above it. So an 8 GiB disk with 1 GiB
 * written costs the hashing of 1 GiB plus a few hundred digests.
 *
 * Which groups hold data is the caller's knowledge (the ranges a build wrote) or the filesystem's
 * (`dataExtents`: FIEMAP through `filefrag`); with neither, every group is read (zero blocks are still
 * detected and not hashed, but the kernel must produce them).
 */
import { hash as oneShotHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readvSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import type { ProgressFn } from '../progress.js';
import { verityGeometry } from './geometry.js';
import { WORKER_URL } from './worker-url.js';
import { TreeHasher, type Batch } from './hasher.js';

export const SPARSE_BLOCK = 4096;
/** Digests per hash block (sha256 in 4096-byte blocks) = data blocks per group. */
export const PER = 128;
export const GROUP_BYTES = SPARSE_BLOCK * PER;
/** Groups per work unit (4 MiB of data). */
const UNIT_GROUPS = 8;
const HASHER = { hash: 'sha256' as const, hashType: 1 as const, hashBlockSize: SPARSE_BLOCK, salt: Buffer.alloc(0) };

export type { Extent } from '../extents.js';
import type { Extent } from '../extents.js';

const sha256 = (b: Uint8Array): Buffer => oneShotHash('sha256', b, 'buffer') as unknown as Buffer;

/** Z[L]: the digest of a full all-zero subtree pushed at tree level L (Z[0]: a zero data block). */
function zeroDigests(levels: number): Buffer[] {
  const z = [sha256(Buffer.alloc(SPARSE_BLOCK))];
  const block = Buffer.alloc(SPARSE_BLOCK);
  for (let l = 1; l <= levels; l++) {
    for (let i = 0; i < PER; i++) z[l - 1].copy(block, i * 32);
    z.push(sha256(block));
  }
  return z;
}

/** Streams digests into the tree level by level, one 4 KiB hash block per level in memory. */
class TreeBuilder {
  private readonly blocks: Buffer[];
  private readonly counts: number[];
  constructor(
    /** Index of the top level (its single hash block gives the root). */
    private readonly top: number,
    private readonly z: Buffer[],
  ) {
    this.blocks = Array.from({ length: top + 1 }, () => Buffer.alloc(SPARSE_BLOCK));
    this.counts = new Array(top + 1).fill(0);
  }

  /** Appends one digest to the current hash block of level `l` (0: data-block digests). */
  push(l: number, d: Uint8Array): void {
    this.blocks[l].set(d, this.counts[l] * 32);
    if (++this.counts[l] === PER && l < this.top) this.flush(l);
  }

  /** Appends `n` digests of all-zero subtrees at level `l`; full aligned runs move up a level whole. */
  pushZeros(l: number, n: number): void {
    while (n > 0) {
      if (this.counts[l] === 0 && n >= PER && l < this.top) {
        const k = Math.floor(n / PER);
        this.pushZeros(l + 1, k);
        n -= k * PER;
        continue;
      }
      const take = Math.min(n, PER - this.counts[l]);
      for (let i = 0; i < take; i++) this.z[l].copy(this.blocks[l], (this.counts[l] + i) * 32);
      this.counts[l] += take;
      n -= take;
      if (this.counts[l] === PER && l < this.top) this.flush(l);
    }
  }

  count(l: number): number {
    return this.counts[l];
  }

  private flush(l: number): void {
    const b = this.blocks[l];
    b.fill(0, this.counts[l] * 32);
    const d = sha256(b);
    this.counts[l] = 0;
    this.push(l + 1, d);
  }

  /** Flushes the partial blocks (zero padded, as dm-verity pads) and returns the root hash. */
  root(): Buffer {
    for (let l = 0; l < this.top; l++) if (this.counts[l] > 0) this.flush(l);
    const b = this.blocks[this.top];
    b.fill(0, this.counts[this.top] * 32);
    return sha256(b);
  }
}

/** Sorted, merged group ranges [g0, g1) touched by `extents`, clipped to `groups`. */
export function groupRanges(extents: readonly Extent[], groups: number): Array<[number, number]> {
  const rs = extents
    .filter(([, l]) => l > 0)
    .map(([o, l]) => [Math.floor(o / GROUP_BYTES), Math.min(groups, Math.ceil((o + l) / GROUP_BYTES))] as [number, number])
    .filter(([a, b]) => a < b)
    .sort((a, b) => a[0] - b[0]);
  const out: Array<[number, number]> = [];
  for (const r of rs) {
    const last = out[out.length - 1];
    if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1]);
    else out.push([r[0], r[1]]);
  }
  return out;
}

/** Work units [g0, g1, at]: at most UNIT_GROUPS groups each, their digests at out[at * 32]. */
function units(ranges: ReadonlyArray<readonly [number, number]>): Array<[number, number, number]> {
  const out: Array<[number, number, number]> = [];
  let at = 0;
  for (const [a, b] of ranges) {
    for (let g = a; g < b; g += UNIT_GROUPS) {
      const e = Math.min(b, g + UNIT_GROUPS);
      out.push([g, e, at]);
      at += e - g;
    }
  }
  return out;
}

/** `a` without the groups of `b` (both sorted and merged). */
export function subtractRanges(a: ReadonlyArray<readonly [number, number]>, b: ReadonlyArray<readonly [number, number]>): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const [a0, a1] of a) {
    let at = a0;
    for (const [b0, b1] of b) {
      if (b1 <= at || b0 >= a1) continue;
      if (b0 > at) out.push([at, b0]);
      at = Math.max(at, b1);
    }
    if (at < a1) out.push([at, a1]);
  }
  return out;
}

/** Digests of whole groups (one 32-byte level-1 entry each), for the group ranges hashed, in order. */
export interface GroupSet {
  ranges: Array<[number, number]>;
  digests: Uint8Array;
  bytes: number;
}

/** The job a thread runs: hash the groups of units taken from `control[0]` into `out` (32 bytes per group). */
export interface GroupJob {
  path: string;
  units: Array<[number, number, number]>;
  control: Int32Array;
  out: Uint8Array;
  progress: Float64Array;
  slot: number;
}

/** Hashes whole groups: each group's 128 data-block digests form one hash block, whose digest lands at out[g * 32]. */
export function hashGroups(job: GroupJob): void {
  const hasher = new TreeHasher(HASHER);
  const fd = openSync(job.path, 'r');
  try {
    const batch: Batch = hasher.newBatch(UNIT_GROUPS * PER, SPARSE_BLOCK);
    const hashBlocks = Buffer.alloc(UNIT_GROUPS * SPARSE_BLOCK);
    for (;;) {
      const u = Atomics.add(job.control, 0, 1);
      if (u >= job.units.length) return;
      const [g0, g1, at] = job.units[u];
      const n = (g1 - g0) * PER;
      const view = batch.buf.subarray(0, n * SPARSE_BLOCK);
      let done = 0;
      while (done < view.length) {
        const r = readvSync(fd, [view.subarray(done)], g0 * GROUP_BYTES + done);
        if (r === 0) {
          view.fill(0, done); // the file shrank: read as zeros (the caller checks the size again)
          break;
        }
        done += r;
      }
      hashBlocks.fill(0);
      hasher.digestBatch(batch, n, hashBlocks, 0);
      for (let g = g0; g < g1; g++) {
        const hb = hashBlocks.subarray((g - g0) * SPARSE_BLOCK, (g - g0 + 1) * SPARSE_BLOCK);
        job.out.set(sha256(hb), (at + g - g0) * 32);
      }
      job.progress[job.slot] += n * SPARSE_BLOCK;
    }
  } finally {
    closeSync(fd);
  }
}

/** Below this much data to hash, a worker's start-up (25-45 ms of CPU) costs more than it saves. */
const WORKER_MIN_BYTES = 64 << 20;

/**
 * Hashes whole groups of `path` (ranges of full groups only). With `background`, only worker threads
 * hash (`jobs` of them) and this thread stays free for other work; otherwise it hashes beside
 * `jobs - 1` workers. The bytes must not change until the promise settles.
 */
export async function hashGroupRanges(
  path: string,
  ranges: Array<[number, number]>,
  o: { jobs?: number; background?: boolean; onProgress?: ProgressFn } = {},
): Promise<GroupSet> {
  const us = units(ranges);
  const groups = ranges.reduce((n, [a, b]) => n + b - a, 0);
  const bytes = groups * GROUP_BYTES;
  const out = new Uint8Array(new SharedArrayBuffer(Math.max(1, groups) * 32));
  const jobs = Math.max(1, o.jobs ?? 2);
  const small = bytes < WORKER_MIN_BYTES;
  const workerCount = small ? 0 : Math.min(o.background ? jobs : jobs - 1, us.length);
  const here = small || !o.background || workerCount === 0;
  const control = new Int32Array(new SharedArrayBuffer(4));
  const progress = new Float64Array(new SharedArrayBuffer(8 * (workerCount + 1)));
  const timer = o.onProgress
    ? setInterval(
        () =>
          o.onProgress!(
            progress.reduce((x, y) => x + y, 0),
            bytes,
            'image digest',
          ),
        100,
      )
    : undefined;
  try {
    const workers = Array.from({ length: workerCount }, (_, i) => {
      const w = new Worker(WORKER_URL, {
        workerData: { kind: 'sparse-groups', job: { path, units: us, control, out, progress, slot: i + 1 } },
      });
      return new Promise<void>((resolve, reject) => {
        w.on('error', reject);
        w.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`image digest worker exited with code ${code}`))));
      });
    });
    if (here) hashGroups({ path, units: us, control, out, progress, slot: 0 });
    await Promise.all(workers);
  } finally {
    if (timer) clearInterval(timer);
  }
  return { ranges: ranges.map(([a, b]) => [a, b]), digests: out, bytes };
}

export interface SparseRootOptions {
  path: string;
  /** Ranges that may hold non-zero bytes; everything else must read as zero. null: the whole file. */
  extents: readonly Extent[] | null;
  /** Groups hashed earlier (hashGroupRanges) whose bytes have not changed since: not read again. */
  precomputed?: readonly GroupSet[];
  jobs?: number;
  onProgress?: ProgressFn;
}

export interface SparseRootResult {
  rootHash: string;
  /** Data blocks covered (the file's size in whole 4096-byte blocks, as veritysetup counts them). */
  dataBlocks: number;
  /** Bytes read and hashed, here and in the precomputed sets; the rest were holes. */
  bytesHashed: number;
}

/** Whole-group counts of a file of `size` bytes. */
export function groupCounts(size: number): { dataBlocks: number; groups: number; fullGroups: number } {
  const dataBlocks = Math.floor(size / SPARSE_BLOCK);
  return { dataBlocks, groups: Math.ceil(dataBlocks / PER), fullGroups: Math.floor(dataBlocks / PER) };
}

/** The dm-verity root hash (sha256, 4096/4096, no salt, no superblock) of the whole file. */
export async function sparseVerityRoot(o: SparseRootOptions): Promise<SparseRootResult> {
  const fd = openSync(o.path, 'r');
  let size: number;
  try {
    size = fstatSync(fd).size;
  } finally {
    closeSync(fd);
  }
  const { dataBlocks, groups, fullGroups } = groupCounts(size);
  if (dataBlocks < 1) throw new Error(`${o.path}: smaller than one 4096-byte block`);
  const levels = verityGeometry(dataBlocks, { hash: 'sha256', dataBlockSize: SPARSE_BLOCK, hashBlockSize: SPARSE_BLOCK, hashType: 1, superblock: false }).levels
    .length;
  if (levels <= 1) {
    // At most one group (512 KiB): read it whole. No levels: the root is the single block's digest.
    const data = readBlocks(o.path, 0, dataBlocks);
    if (levels === 0) return { rootHash: sha256(data).toString('hex'), dataBlocks, bytesHashed: data.length };
    const hasher = new TreeHasher(HASHER);
    const batch = hasher.newBatch(dataBlocks, SPARSE_BLOCK);
    data.copy(batch.buf);
    const hb = Buffer.alloc(SPARSE_BLOCK);
    hasher.digestBatch(batch, dataBlocks, hb, 0);
    return { rootHash: sha256(hb).toString('hex'), dataBlocks, bytesHashed: data.length };
  }
  const ranges = o.extents ? groupRanges(o.extents, groups) : [[0, groups] as [number, number]];
  const pre = (o.precomputed ?? []).filter((p) => p.ranges.every(([, b]) => b <= fullGroups));
  const done = groupRanges(
    pre.flatMap((p) => p.ranges.map(([a, b]) => [a * GROUP_BYTES, (b - a) * GROUP_BYTES] as Extent)),
    fullGroups,
  );
  const todo = subtractRanges(
    ranges.map(([a, b]) => [a, Math.min(b, fullGroups)] as [number, number]).filter(([a, b]) => a < b),
    done,
  );
  const fresh = await hashGroupRanges(o.path, todo, { jobs: o.jobs, onProgress: o.onProgress });

  // Every hashed group's entry, in group order: [g0, g1, digests, index of g0 in digests].
  const segments: Array<[number, number, Uint8Array, number]> = [];
  for (const set of [...pre, fresh]) {
    let i = 0;
    for (const [a, b] of set.ranges) {
      segments.push([a, b, set.digests, i]);
      i += b - a;
    }
  }
  segments.sort((x, y) => x[0] - y[0]);

  // The tree, in group order: hashed groups give their level-1 entry, hole runs collapse.
  const z = zeroDigests(levels);
  const t = new TreeBuilder(levels - 1, z);
  let g = 0;
  for (const [a, b, digests, base] of segments) {
    if (b <= g) continue;
    if (a > g) t.pushZeros(1, a - g);
    for (g = Math.max(g, a); g < b; g++) t.push(1, digests.subarray((base + g - a) * 32, (base + g - a + 1) * 32));
  }
  if (fullGroups > g) t.pushZeros(1, fullGroups - g);
  let tail = 0;
  if (fullGroups < groups) {
    // The last, partial group: its blocks one by one; its hash block is zero padded, not Z1.
    const n = dataBlocks - fullGroups * PER;
    const hasher = new TreeHasher(HASHER);
    const hb = Buffer.alloc(SPARSE_BLOCK);
    if (ranges.some(([, b]) => b > fullGroups)) {
      const batch = hasher.newBatch(n, SPARSE_BLOCK);
      readBlocks(o.path, fullGroups * PER, n).copy(batch.buf);
      hasher.digestBatch(batch, n, hb, 0);
      tail = n * SPARSE_BLOCK;
    } else {
      for (let i = 0; i < n; i++) z[0].copy(hb, i * 32);
    }
    t.push(1, sha256(hb));
  }
  const root = t.root();
  const bytesHashed = fresh.bytes + pre.reduce((n, p) => n + p.bytes, 0) + tail;
  o.onProgress?.(bytesHashed, bytesHashed, 'image digest');
  return { rootHash: root.toString('hex'), dataBlocks, bytesHashed };
}

function readBlocks(path: string, block: number, n: number): Buffer {
  const b = Buffer.alloc(n * SPARSE_BLOCK);
  const fd = openSync(path, 'r');
  try {
    let done = 0;
    while (done < b.length) {
      const r = readvSync(fd, [b.subarray(done)], block * SPARSE_BLOCK + done);
      if (r === 0) break;
      done += r;
    }
  } finally {
    closeSync(fd);
  }
  return b;
}
