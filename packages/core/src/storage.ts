/**
 * The tiny storage interface every on-disk writer goes through, so codecs stay pure and tests can
 * inject faults. A SubStorage is a window on a byte range of another storage (a partition inside a
 * disk image) and lets verity and the ESP code work in place without copying.
 */
import { promises as fsp, type Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { InputError } from './errors.js';

/**
 * Random-access bytes: a file, a block device, a range of either, or memory. The GPT reader and writer
 * and the slot transitions work on any of them.
 *
 * @example
 * ```ts
 * async function firstSector(s: Storage): Promise<Buffer> {
 *   return s.readAt(0, Math.min(512, s.size));
 * }
 * ```
 */
export interface Storage {
  /** Its size in bytes. */
  readonly size: number;
  /** Reads `length` bytes at `offset` (RangeError past the end). */
  readAt(offset: number, length: number): Promise<Buffer>;
  /** Writes `data` at `offset` (RangeError past the end: a storage never grows). */
  writeAt(offset: number, data: Uint8Array): Promise<void>;
  /** Durably persist what was written so far (fsync on files). */
  sync(): Promise<void>;
}

function checkRange(s: Storage, offset: number, length: number, what: string): void {
  if (!Number.isSafeInteger(offset) || offset < 0 || length < 0 || offset + length > s.size) {
    throw new RangeError(`${what} of ${length} bytes at ${offset} is outside the storage of ${s.size} bytes`);
  }
}

/**
 * A file or a block device as {@link Storage}. Writes go to image files only; a block device is read-only.
 *
 * @example
 * ```ts
 * const s = await FileStorage.open('disk.raw', true);
 * try {
 *   const { table } = await readGpt(s);
 *   console.log(table.totalSectors);
 * } finally {
 *   await s.close();
 * }
 * ```
 */
export class FileStorage implements Storage {
  private constructor(
    private readonly fh: FileHandle,
    public readonly path: string,
    public size: number,
  ) {}

  /**
   * Opens an existing file; `writable` opens read-write. A block device is read (sized from sysfs,
   * since fstat says 0 bytes) but never written: imgbuild writes image files, and a disk is one `dd`
   * away from one.
   */
  static async open(path: string, writable = false): Promise<FileStorage> {
    const st = await fsp.stat(path);
    if (writable) refuseDeviceWrite(st, path);
    const fh = await fsp.open(path, writable ? 'r+' : 'r');
    return new FileStorage(fh, path, st.isBlockDevice() ? await blockDeviceBytes(st.rdev, path) : (await fh.stat()).size);
  }

  /** Creates (or truncates) a sparse file of `size` bytes. */
  static async create(path: string, size: number, exclusive = true): Promise<FileStorage> {
    const fh = await fsp.open(path, exclusive ? 'wx+' : 'w+');
    await fh.truncate(size);
    return new FileStorage(fh, path, size);
  }

  /** {@inheritDoc Storage.readAt} */
  async readAt(offset: number, length: number): Promise<Buffer> {
    checkRange(this, offset, length, 'read');
    const buf = Buffer.alloc(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.fh.read(buf, done, length - done, offset + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return buf;
  }

  /** {@inheritDoc Storage.writeAt} */
  async writeAt(offset: number, data: Uint8Array): Promise<void> {
    checkRange(this, offset, data.length, 'write');
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await this.fh.write(data, done, data.length - done, offset + done);
      done += bytesWritten;
    }
  }

  /** {@inheritDoc Storage.sync} */
  async sync(): Promise<void> {
    await this.fh.sync();
  }

  /** Closes the file; the storage is unusable after. */
  async close(): Promise<void> {
    await this.fh.close();
  }
}

/** imgbuild reads block devices but writes only image files: the one place that says so. */
export function refuseDeviceWrite(st: Stats, path: string): void {
  if (st.isBlockDevice()) throw new InputError('is a block device; imgbuild reads devices but writes only image files (write the image to the device with dd)', { file: path });
}

/** A block device's size: /sys/dev/block/MAJOR:MINOR/size counts 512-byte sectors whatever the device's own. */
export async function blockDeviceBytes(rdev: number, path: string): Promise<number> {
  const major = Number((BigInt(rdev) >> 8n) & 0xfffn) | Number((BigInt(rdev) >> 32n) & ~0xfffn);
  const minor = Number(BigInt(rdev) & 0xffn) | Number((BigInt(rdev) >> 12n) & ~0xffn);
  const text = await fsp.readFile(`/sys/dev/block/${major}:${minor}/size`, 'utf8').catch(() => {
    throw new InputError(`cannot tell the size of this block device (/sys/dev/block/${major}:${minor}/size)`, { file: path });
  });
  return Number(text.trim()) * 512;
}

/**
 * In-memory storage, for tests and for building tables before they touch a disk.
 *
 * @example
 * ```ts
 * const s = new MemoryStorage(Buffer.alloc(1 << 20));
 * await writeGpt(s, emptyTable(512, 2048, ZERO_GUID));
 * ```
 */
export class MemoryStorage implements Storage {
  readonly buffer: Buffer;
  constructor(sizeOrBuffer: number | Buffer) {
    this.buffer = typeof sizeOrBuffer === 'number' ? Buffer.alloc(sizeOrBuffer) : sizeOrBuffer;
  }
  /** {@inheritDoc Storage.size} */
  get size(): number {
    return this.buffer.length;
  }
  /** {@inheritDoc Storage.readAt} */
  async readAt(offset: number, length: number): Promise<Buffer> {
    checkRange(this, offset, length, 'read');
    return Buffer.from(this.buffer.subarray(offset, offset + length));
  }
  /** {@inheritDoc Storage.writeAt} */
  async writeAt(offset: number, data: Uint8Array): Promise<void> {
    checkRange(this, offset, data.length, 'write');
    this.buffer.set(data, offset);
  }
  /** {@inheritDoc Storage.sync} */
  async sync(): Promise<void> {}
}

/**
 * A byte-range view of another storage: offsets are relative to `start`.
 *
 * @example
 * ```ts
 * // The ESP of an image, as a storage of its own
 * const esp = new SubStorage(await FileStorage.open('disk.raw'), 1048576, 67108864);
 * ```
 */
export class SubStorage implements Storage {
  constructor(
    private readonly parent: Storage,
    readonly start: number,
    readonly size: number,
  ) {
    checkRange(parent, start, size, 'sub-range');
  }
  /** {@inheritDoc Storage.readAt} */
  readAt(offset: number, length: number): Promise<Buffer> {
    checkRange(this, offset, length, 'read');
    return this.parent.readAt(this.start + offset, length);
  }
  /** {@inheritDoc Storage.writeAt} */
  writeAt(offset: number, data: Uint8Array): Promise<void> {
    checkRange(this, offset, data.length, 'write');
    return this.parent.writeAt(this.start + offset, data);
  }
  /** {@inheritDoc Storage.sync} */
  sync(): Promise<void> {
    return this.parent.sync();
  }
}
