/** Reading an image for verify: byte ranges, and their sha256 read in 8 MiB chunks and hashed in order. */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import type { ByteRange } from '../manifest/manifest.js';

export async function digestRanges(path: string, ranges: readonly ByteRange[]): Promise<{ sha256: string; bytes: number }> {
  const h = createHash('sha256');
  const fh = await fsp.open(path, 'r');
  let bytes = 0;
  try {
    const buf = Buffer.alloc(8 << 20);
    for (const [offset, length] of ranges) {
      for (let at = 0; at < length; ) {
        const n = Math.min(buf.length, length - at);
        const { bytesRead } = await fh.read(buf, 0, n, offset + at);
        // Past the end of the file reads as nothing: hash what is there and let the lengths differ.
        if (bytesRead === 0) break;
        h.update(buf.subarray(0, bytesRead));
        at += bytesRead;
        bytes += bytesRead;
      }
    }
  } finally {
    await fh.close();
  }
  return { sha256: h.digest('hex'), bytes };
}

/** `length` bytes at `offset` (zero past the end of the file). */
export async function readBytes(path: string, offset: number, length: number): Promise<Buffer> {
  const fh = await fsp.open(path, 'r');
  try {
    const b = Buffer.alloc(length);
    await fh.read(b, 0, length, offset);
    return b;
  } finally {
    await fh.close();
  }
}
