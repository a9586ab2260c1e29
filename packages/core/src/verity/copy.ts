/**
 * The leaf level's copy (LevelJob.copyPath: a slot's /usr bytes, written as they are hashed): where it
 * goes and whose turn it is to write it.
 *
 * The copy is written past the page cache (O_DIRECT) where it can be. Written buffered, each of its
 * blocks takes a fresh page-cache page that the kernel allocates and copies into, only to write it
 * out at the caller's fdatasync and never read it again; on a VM that hands freed memory back to its
 * host (free page reporting) each such page first costs a host fault. On the bench VM, `dd` of 1 GiB
 * onto such memory took 2.9-4.2 s buffered and 0.6 s with oflag=direct, and which of build, update
 * or publish landed on it depended on what ran just before. Direct, the device takes the bytes from
 * the very buffer the thread read, while the thread hashes it; the caller's fdatasync still makes
 * the new extents durable. A gigabyte of other files also stays cached.
 *
 * O_DIRECT needs the buffers, the file offset and the length aligned to the device's logical block
 * size: the batches are whole data blocks in page-aligned memory (alignedBuffer), the offset a
 * partition start. Where something does not hold (a filesystem without O_DIRECT, a salted batch
 * whose blocks are not contiguous, an odd offset), the open or the write fails with EINVAL before
 * any byte is written, and the copy goes on buffered: the same bytes at the same offsets.
 */
import { closeSync, constants, openSync, writev, writevSync } from 'node:fs';
import { promisify } from 'node:util';

const writevP = promisify(writev) as unknown as (fd: number, buffers: NodeJS.ArrayBufferView[], position: number) => Promise<{ bytesWritten: number }>;
/** The most views one vectored call takes (Linux's IOV_MAX). */
export const IOV_MAX = 1024;

/** Writes `views` back to back from `pos` (blocking with `sync`, like the reads of the same thread). */
export async function writeViews(fd: number, views: Buffer[], pos: number, sync: boolean): Promise<void> {
  let vs = views;
  while (vs.length > 0) {
    let n = sync ? writevSync(fd, vs.slice(0, IOV_MAX), pos) : (await writevP(fd, vs.slice(0, IOV_MAX), pos)).bytesWritten;
    pos += n;
    // A short write (rare: a signal, a full disk) leaves the rest to the next call, or ENOSPC.
    let i = 0;
    while (i < vs.length && n >= vs[i].length) n -= vs[i++].length;
    vs = i < vs.length ? [vs[i].subarray(n), ...vs.slice(i + 1)] : [];
  }
}

// The ES2022 lib has no resizable ArrayBuffer; node 20 does.
const ResizableArrayBuffer = ArrayBuffer as unknown as new (length: number, options: { maxByteLength: number }) => ArrayBuffer;

/**
 * `size` bytes starting on a page boundary, as O_DIRECT wants them: V8 reserves a resizable
 * ArrayBuffer's memory as whole pages, where a plain Buffer comes from malloc (16 bytes past a page
 * start for large ones). Should that ever change, the direct write fails and CopyTarget goes buffered.
 */
export function alignedBuffer(size: number): Buffer {
  return Buffer.from(new ResizableArrayBuffer(size, { maxByteLength: size }));
}

const isEinval = (e: unknown) => (e as NodeJS.ErrnoException).code === 'EINVAL';

/** The file the copy is written to: direct when it can be (see above), buffered otherwise. */
export class CopyTarget {
  private fd: number;
  /** Whether writes go past the page cache now. */
  direct = false;

  /** `tryDirect`: the batches are contiguous, page-aligned whole blocks. */
  constructor(
    private readonly path: string,
    tryDirect: boolean,
  ) {
    if (tryDirect && constants.O_DIRECT !== undefined) {
      try {
        this.fd = openSync(path, constants.O_RDWR | constants.O_DIRECT);
        this.direct = true;
        return;
      } catch (e) {
        if (!isEinval(e)) throw e;
      }
    }
    this.fd = openSync(path, 'r+');
  }

  async write(views: Buffer[], pos: number, sync: boolean): Promise<void> {
    try {
      await writeViews(this.fd, views, pos, sync);
    } catch (e) {
      if (!this.direct || !isEinval(e)) throw e;
      this.goBuffered();
      await writeViews(this.fd, views, pos, sync);
    }
  }

  private goBuffered(): void {
    const fd = openSync(this.path, 'r+');
    closeSync(this.fd);
    this.fd = fd;
    this.direct = false;
  }

  close(): void {
    closeSync(this.fd);
  }
}

/**
 * Whose turn it is to write a buffered copy (a direct one needs none: LevelWorker.run) and the hash
 * blocks beside it. Buffered writes to one file take its inode lock, and a thread
 * that waits for it spins on the CPU (the kernel's optimistic spinning); on a VM whose fresh
 * page-cache memory faults to the host, a write holds it long, and the spinning thread hashes
 * nothing meanwhile. So the threads take turns: one that finds the turn taken hashes its batch first
 * and writes after, sleeping rather than spinning if it must still wait.
 */
export class CopyTurn {
  constructor(private readonly flag: Int32Array) {}
  tryTake(): boolean {
    return Atomics.compareExchange(this.flag, 0, 0, 1) === 0;
  }
  take(): void {
    while (!this.tryTake()) Atomics.wait(this.flag, 0, 1, 5);
  }
  give(): void {
    Atomics.store(this.flag, 0, 0);
    Atomics.notify(this.flag, 0, 1);
  }
}
