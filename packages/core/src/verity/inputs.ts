/**
 * Checks on what formatVerity and verifyVerity are given, done before the first read or write: offsets,
 * job counts, salts, root hashes, the files' sizes and whether two paths are one file.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { errnoWords, InputError, UsageError } from '../errors.js';
import { MAX_SALT_SIZE } from './superblock.js';

export function checkOffset(v: number | undefined, name: string): number {
  if (v === undefined) return 0;
  if (!Number.isSafeInteger(v) || v < 0) throw new UsageError(`${name} must be a non-negative integer, got ${v}`);
  return v;
}

export function checkJobs(j: number | undefined): number {
  if (j === undefined) return availableParallelism();
  if (!Number.isInteger(j) || j < 1 || j > 256) throw new UsageError(`jobs must be an integer from 1 to 256, got ${j}`);
  return j;
}

export function checkSalt(s: Buffer | null | undefined): Buffer {
  if (s === null) return Buffer.alloc(0);
  if (s === undefined) return randomBytes(32);
  if (s.length > MAX_SALT_SIZE) throw new UsageError(`salt of ${s.length} bytes is longer than ${MAX_SALT_SIZE}`);
  return Buffer.from(s);
}

export function checkRootHash(h: string): Buffer {
  if (!/^([0-9a-f]{2})+$/i.test(h)) throw new UsageError(`root hash must be hex, got "${h}"`);
  return Buffer.from(h, 'hex');
}

// The checks and small reads before and after the tree (sizes, the superblock, the bytes after it) use
// blocking calls: each takes microseconds, where a trip through libuv's thread pool costs tens of them,
// and far more on a busy machine; a verify makes about twenty of them before it hashes anything.

/** File size, with a missing or unreadable file reported as InputError naming it. */
export async function fileSize(path: string, what: string): Promise<number> {
  try {
    const fd = openSync(path, 'r');
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw new InputError(`${what} is not a regular file`, { file: path });
      return st.size;
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    if (e instanceof InputError) throw e;
    const err = e as NodeJS.ErrnoException;
    throw new InputError(err.code === 'ENOENT' ? `${what} does not exist` : `cannot read ${what}: ${errnoWords(err.code) ?? err.message}`, { file: path, cause: e });
  }
}

/** Whether two paths name one file (same path, or a link to the same inode), so writes could hit the data. */
export async function sameFile(a: string, b: string): Promise<boolean> {
  if (resolve(a) === resolve(b)) return true;
  try {
    const [x, y] = [statSync(a), statSync(b)];
    return x.dev === y.dev && x.ino === y.ino;
  } catch {
    return false;
  }
}

/** Reads `buf.length` bytes at `pos` (fewer at the end of the file: the rest stays as it was). */
export function readAt(path: string, buf: Buffer, pos: number): void {
  const fd = openSync(path, 'r');
  try {
    let done = 0;
    while (done < buf.length) {
      const n = readSync(fd, buf, done, buf.length - done, pos + done);
      if (n === 0) break;
      done += n;
    }
  } finally {
    closeSync(fd);
  }
}

/** How many data blocks `avail` bytes hold (a partial last block only with `pad`). */
export function countDataBlocks(dataPath: string, avail: number, bs: number, pad: boolean): number {
  if (avail <= 0) throw new InputError('no data at the given data offset', { file: dataPath });
  if (avail % bs !== 0 && !pad) {
    throw new InputError(`data size ${avail} is not a multiple of the data block size ${bs} (use --pad to zero pad the last block)`, { file: dataPath });
  }
  return Math.ceil(avail / bs);
}
