/**
 * One level of the tree, create and verify alike (cryptsetup's create_or_verify): read the child
 * blocks (data blocks for the leaf level, hash blocks of the level below otherwise) in large
 * vectored reads, hash them into the level's hash blocks, then either write those blocks or compare
 * them with the stored ones. The level is cut into units of whole hash blocks, so any number of
 * threads can process units independently and every digest lands at its final offset.
 *
 * Used unchanged by the main thread (upper levels, small inputs) and the workers (leaf level).
 */
import { closeSync, openSync, read, readv, readvSync, readSync, write } from 'node:fs';
import { promisify } from 'node:util';
import { TreeHasher, type Batch, type HasherConfig } from './hasher.js';
import { alignedBuffer, CopyTarget, CopyTurn, IOV_MAX, writeViews } from './copy.js';

const readvP = promisify(readv) as unknown as (fd: number, buffers: NodeJS.ArrayBufferView[], position: number) => Promise<{ bytesRead: number }>;
const readP = promisify(read) as unknown as (fd: number, buffer: Buffer, offset: number, length: number, position: number) => Promise<{ bytesRead: number }>;
const writeP = promisify(write) as unknown as (fd: number, buffer: Buffer, offset: number, length: number, position: number) => Promise<{ bytesWritten: number }>;

/** Blocks per vectored read: at most IOV_MAX (1024) views, about 1 MiB. */
const READ_BYTES = 1 << 20;
/** Child bytes per work unit (rounded to whole hash blocks of the level). */
export const UNIT_BYTES = 4 << 20;

export type LevelMode = 'create' | 'verify';

/** A level job: plain data, so it can be posted to a worker. */
export interface LevelJob {
  mode: LevelMode;
  hasher: HasherConfig;
  /** File holding the child blocks, and the absolute offset of child 0. */
  srcPath: string;
  srcOffset: number;
  childSize: number;
  childCount: number;
  /** File holding this level's hash blocks, and the absolute offset of its block 0. */
  dstPath: string;
  dstOffset: number;
  /**
   * Leaf level, create: where the data blocks are also written as they are hashed (a slot's copy of
   * its /usr image), zero padded to whole blocks. The tree then seals exactly the bytes written, and
   * the data is read once for both.
   */
  copyPath?: string;
  copyOffset?: number;
  /** Shared by every thread of the job: whose turn it is to write the copy (see CopyTurn). */
  copyTurn?: Int32Array;
}

export interface LevelMismatch {
  /** Unit in which it was found (to keep the lowest when several threads find one). */
  unit: number;
  /** Index of the child whose digest differs, or null when a zero-padding byte differs. */
  child: number | null;
  /** Index of the level's hash block holding the difference. */
  block: number;
}

/** How a level is cut into units. */
export function levelUnits(job: LevelJob, perBlock: number): { blocksPerUnit: number; units: number; blocks: number } {
  const blocks = Math.ceil(job.childCount / perBlock);
  const blocksPerUnit = Math.max(1, Math.floor(UNIT_BYTES / (perBlock * job.childSize)));
  return { blocksPerUnit, units: Math.ceil(blocks / blocksPerUnit), blocks };
}

/**
 * Reads into `views` from `pos` until they are full; past the end of the file they are zero filled.
 * `sync` reads block the thread: right for the threads sharing the leaf level, which have nothing
 * else to do (it saves the thread-pool hand-off); small inputs and upper levels read asynchronously
 * so the caller's event loop keeps turning (a leaf level of several units reads blocking in any thread).
 */
export async function readFully(fd: number, views: Buffer[], pos: number, sync = false): Promise<void> {
  // `views` may be a batch's cached array: it is copied before a short read trims one of its entries.
  let vs = views;
  let i = 0;
  while (i < vs.length) {
    const one = vs.length - i === 1;
    const batch = one ? [] : i === 0 && vs.length <= IOV_MAX ? vs : vs.slice(i, i + IOV_MAX);
    const n = sync
      ? one ? readSync(fd, vs[i], 0, vs[i].length, pos) : readvSync(fd, batch, pos)
      : one ? (await readP(fd, vs[i], 0, vs[i].length, pos)).bytesRead : (await readvP(fd, batch, pos)).bytesRead;
    if (n === 0) {
      for (; i < vs.length; i++) vs[i].fill(0);
      return;
    }
    pos += n;
    let left = n;
    while (left > 0 && left >= vs[i].length) left -= vs[i++].length;
    if (left > 0) {
      if (vs === views) vs = views.slice();
      vs[i] = vs[i].subarray(left);
    }
  }
}

export async function writeFully(fd: number, buf: Buffer, pos: number): Promise<void> {
  let done = 0;
  while (done < buf.length) done += (await writeP(fd, buf, done, buf.length - done, pos + done)).bytesWritten;
}

/**
 * The descriptors one thread needs for a level job (each thread opens its own), and their closing.
 * The copy is written direct (copy.ts) when its batches can be: without a salt, a batch is its blocks
 * back to back.
 */
export function openLevelFiles(job: LevelJob): { src: number; dst: number; copy?: CopyTarget; close(): void } {
  const fds: number[] = [];
  let copy: CopyTarget | undefined;
  try {
    fds.push(openSync(job.srcPath, 'r'));
    fds.push(openSync(job.dstPath, job.mode === 'create' ? 'r+' : 'r'));
    if (job.copyPath !== undefined) copy = new CopyTarget(job.copyPath, job.hasher.salt.length === 0);
  } catch (e) {
    for (const fd of fds) closeSync(fd);
    throw e;
  }
  return {
    src: fds[0],
    dst: fds[1],
    copy,
    close: () => {
      fds.forEach((fd) => closeSync(fd));
      copy?.close();
    },
  };
}

/** Per-thread state for processing units of one level: the hasher, two read batches, the output. */
export class LevelWorker {
  readonly hasher: TreeHasher;
  private readonly batches: [Batch, Batch];
  private readonly perRead: number;
  private readonly out: Buffer;
  private readonly stored: Buffer;
  readonly layout: { blocksPerUnit: number; units: number; blocks: number };

  constructor(
    readonly job: LevelJob,
    private readonly srcFd: number,
    private readonly dstFd: number,
    /** Blocking reads (in a worker thread). */
    private readonly sync = false,
    /** Open on job.copyPath when the job copies its children. */
    private readonly copy?: CopyTarget,
  ) {
    this.hasher = new TreeHasher(job.hasher);
    this.layout = levelUnits(job, this.hasher.perBlock);
    const unitChildren = Math.min(job.childCount, this.layout.blocksPerUnit * this.hasher.perBlock);
    this.perRead = Math.max(1, Math.min(IOV_MAX, Math.floor(READ_BYTES / job.childSize), unitChildren));
    const alloc = copy?.direct ? alignedBuffer : undefined;
    this.batches = [this.hasher.newBatch(this.perRead, job.childSize, alloc), this.hasher.newBatch(this.perRead, job.childSize, alloc)];
    const outBytes = this.layout.blocksPerUnit * job.hasher.hashBlockSize;
    this.out = Buffer.alloc(outBytes);
    this.stored = job.mode === 'verify' ? Buffer.alloc(outBytes) : Buffer.alloc(0);
    if (copy !== undefined) this.turn = new CopyTurn(job.copyTurn ?? new Int32Array(new SharedArrayBuffer(4)));
  }

  /** Set when the job copies its children. */
  private readonly turn?: CopyTurn;

  /** Bytes of children in unit `u`. */
  unitBytes(u: number): number {
    const [c0, c1] = this.unitChildren(u);
    return (c1 - c0) * this.job.childSize;
  }

  private unitChildren(u: number): [number, number] {
    const per = this.layout.blocksPerUnit * this.hasher.perBlock;
    return [u * per, Math.min(this.job.childCount, (u + 1) * per)];
  }

  /** Writes the `n` children of batch `b` (from child `first`) to the copy, and gives the turn back. */
  private async copyBatch(b: Batch, n: number, first: number): Promise<void> {
    try {
      await this.copy!.write(this.hasher.blockViews(b, n), this.job.copyOffset! + first * this.job.childSize, this.sync);
    } finally {
      this.turn!.give();
    }
  }

  /** Processes unit `u`: hash its children, then write or compare its hash blocks. */
  async run(u: number, onBytes?: (n: number) => void): Promise<LevelMismatch | null> {
    const { job, hasher } = this;
    const [c0, c1] = this.unitChildren(u);
    const b0 = u * this.layout.blocksPerUnit;
    const nBlocks = Math.min(this.layout.blocks, b0 + this.layout.blocksPerUnit) - b0;
    const outLen = nBlocks * job.hasher.hashBlockSize;
    const out = this.out.subarray(0, outLen);
    out.fill(0);
    const readBatch = (k: number, b: Batch) => {
      const first = c0 + k * this.perRead;
      const n = Math.min(this.perRead, c1 - first);
      return readFully(this.srcFd, hasher.blockViews(b, n), job.srcOffset + first * job.childSize, this.sync).then(() => n);
    };
    const reads = Math.ceil((c1 - c0) / this.perRead);
    let pending = readBatch(0, this.batches[0]);
    for (let k = 0; k < reads; k++) {
      const b = this.batches[k & 1];
      const n = await pending;
      if (k + 1 < reads) pending = readBatch(k + 1, this.batches[(k + 1) & 1]);
      if (this.turn === undefined) {
        hasher.digestBatch(b, n, out, k * this.perRead);
      } else if (this.copy!.direct) {
        // Past the page cache a write waits for the device, not the CPU, and nothing spins on the
        // inode lock: each thread writes its batch (through the thread pool) while it hashes it.
        const writing = this.copy!.write(hasher.blockViews(b, n), job.copyOffset! + (c0 + k * this.perRead) * job.childSize, false);
        try {
          hasher.digestBatch(b, n, out, k * this.perRead);
        } finally {
          await writing;
        }
      } else if (this.turn.tryTake()) {
        await this.copyBatch(b, n, c0 + k * this.perRead);
        hasher.digestBatch(b, n, out, k * this.perRead);
      } else {
        hasher.digestBatch(b, n, out, k * this.perRead);
        this.turn.take();
        await this.copyBatch(b, n, c0 + k * this.perRead);
      }
      onBytes?.(n * job.childSize);
    }
    const at = job.dstOffset + b0 * job.hasher.hashBlockSize;
    if (job.mode === 'create') {
      // Into the same file as the copy, when there is one: in turn with its writes, from this thread.
      this.turn?.take();
      try {
        await writeViews(this.dstFd, [out], at, this.sync);
      } finally {
        this.turn?.give();
      }
      return null;
    }
    const stored = this.stored.subarray(0, outLen);
    await readFully(this.dstFd, [stored], at, this.sync);
    if (stored.equals(out)) return null;
    let i = 0;
    while (stored[i] === out[i]) i++;
    const rel = hasher.childAt(i);
    const child = rel === null || c0 + rel >= c1 ? null : c0 + rel;
    return { unit: u, child, block: b0 + Math.floor(i / job.hasher.hashBlockSize) };
  }
}

/**
 * Takes units from the shared counter `control[0]` until it reaches `control[1]`, the unit count,
 * which a mismatch lowers to its own unit: threads then finish lower units only, so the lowest
 * mismatch is always found. The same loop runs in the main thread and in every worker.
 */
export async function runUnits(w: LevelWorker, control: Int32Array, onBytes?: (n: number) => void): Promise<LevelMismatch[]> {
  const found: LevelMismatch[] = [];
  for (;;) {
    const u = Atomics.add(control, 0, 1);
    if (u >= Atomics.load(control, 1)) return found;
    const m = await w.run(u, onBytes);
    if (m) {
      found.push(m);
      let limit = Atomics.load(control, 1);
      while (u < limit) {
        const seen = Atomics.compareExchange(control, 1, limit, u);
        if (seen === limit) break;
        limit = seen;
      }
    }
  }
}
