/** Reads an image's first bytes and checks its filesystem superblock: the I/O around `detectFilesystem`. */
import { promises as fsp } from 'node:fs';
import { fsError, InputError } from '../errors.js';
import { detectFilesystem, FILESYSTEM_HEAD_BYTES, type FilesystemInfo } from './detect.js';

async function readHead(path: string): Promise<{ head: Buffer; size: number }> {
  let fh;
  try {
    fh = await fsp.open(path, 'r');
  } catch (e) {
    throw fsError(e, path, (e as NodeJS.ErrnoException).code === 'ENOENT' ? undefined : 'cannot read');
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new InputError('not a regular file', { file: path });
    const head = Buffer.alloc(Math.min(st.size, FILESYSTEM_HEAD_BYTES));
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    return { head: head.subarray(0, bytesRead), size: st.size };
  } finally {
    await fh.close();
  }
}

/**
 * The filesystem in an image held in memory, or in the file at a path. A missing, unreadable or
 * non-regular file is an InputError; bad content a CorruptError; both name the file.
 */
export async function probeFilesystem(src: Uint8Array | string): Promise<FilesystemInfo & { fileSize: number }> {
  if (typeof src !== 'string') return { ...detectFilesystem(src, src.length), fileSize: src.length };
  const { head, size } = await readHead(src);
  return { ...detectFilesystem(head, size, src), fileSize: size };
}
