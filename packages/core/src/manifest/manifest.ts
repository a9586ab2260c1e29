/** The identity manifest written beside every image: what was built, from what, and its root hashes. */
import { promises as fsp } from 'node:fs';
import { createHash } from 'node:crypto';
import { InputError } from '../errors.js';
import type { Slot } from '../layout/plan.js';
import type { ProgressFn } from '../progress.js';
import { parseManifestJson } from './parse.js';
import { isLegacyBoot, manifestV2Schema, type ImageManifest } from './schema.js';

export const MANIFEST_VERSION = 2;

export type { BootManifest, ImageManifest, ImageManifestV1, ImageManifestV2, LegacyBootManifest, SigningManifest, SlotBootManifest, SlotManifest } from './schema.js';
export { isLegacyBoot, manifestArchitecture } from './schema.js';

export function sha256Buffer(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/** A byte range of a file: [offset, offset + length). */
export type ByteRange = readonly [offset: number, length: number];

/**
 * sha256 of a whole file, read into one reused buffer (streams allocate per chunk, at half the speed).
 * With `written`, the caller vouches that every byte outside those ranges is zero (a sparse image it
 * created): those are hashed from a zero buffer instead of read, which spares the kernel from filling
 * gigabytes of page cache with the holes of a sparse disk image (measured: 14 s → 4.5 s for 8 GiB).
 */
export async function sha256File(path: string, onProgress?: ProgressFn, written?: readonly ByteRange[]): Promise<string> {
  const h = createHash('sha256');
  const fh = await fsp.open(path, 'r');
  try {
    const size = (await fh.stat()).size;
    const buf = Buffer.allocUnsafe(8 << 20);
    const zeros = written ? Buffer.alloc(buf.length) : buf;
    const ranges = written ? [...written].sort((a, b) => a[0] - b[0]) : [[0, size] as const];
    let at = 0;
    const hashZeros = (until: number) => {
      for (; at < until; at += Math.min(zeros.length, until - at)) h.update(zeros.subarray(0, Math.min(zeros.length, until - at)));
    };
    for (const [offset, length] of ranges) {
      const end = Math.min(size, offset + length);
      if (end <= at) continue;
      hashZeros(Math.max(at, offset));
      while (at < end) {
        const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, end - at), at);
        if (bytesRead === 0) throw new Error(`${path}: short read at ${at}`);
        h.update(buf.subarray(0, bytesRead));
        at += bytesRead;
        onProgress?.(at, size, 'sha256');
      }
    }
    hashZeros(size);
    onProgress?.(size, size, 'sha256');
  } finally {
    await fh.close();
  }
  return h.digest('hex');
}

export function manifestPathFor(imagePath: string): string {
  return `${imagePath}.manifest.json`;
}

/**
 * The manifest as written: version 2, checked against its own schema first (a build or update that
 * records something malformed is a bug, caught here rather than by the next `verify`).
 */
export function encodeManifest(m: ImageManifest): string {
  const { upgradedFrom: _dropped, ...rest } = m;
  const r = manifestV2Schema.safeParse(rest);
  if (!r.success) throw new Error(`internal: the manifest about to be written does not match its schema: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return JSON.stringify(rest, null, 2) + '\n';
}

/**
 * The manifest an update writes before touching the image: the old one, less what the update is about
 * to overwrite (the slot's record, its UKI's, those ESP files'), plus the note that it is under way.
 * Interrupted anywhere, the image still verifies as the old one, with that slot and those files named
 * as an unfinished update; the slot counts as empty for the slot verbs.
 */
export function pendingUpdateManifest(m: ImageManifest, slot: Slot, espPaths: readonly string[]): ImageManifest {
  const out = structuredClone(m);
  const inFlux = new Set(espPaths.map((p) => p.toUpperCase()));
  delete out.slots[slot];
  if (!isLegacyBoot(out.boot)) {
    delete out.boot.slots[slot];
    if (out.boot.signing) out.boot.signing.files = out.boot.signing.files.filter((f) => !inFlux.has(f.path.toUpperCase()));
  }
  if (out.esp) out.esp.files = out.esp.files.filter((f) => !inFlux.has(f.path.toUpperCase()));
  out.pending = { action: 'update', slot, espPaths: [...espPaths] };
  return out;
}

/** Reads a manifest of version 1 or 2 (upgraded in memory); one-line InputError naming the key otherwise. */
export async function readManifest(path: string): Promise<ImageManifest> {
  let text: string;
  try {
    text = await fsp.readFile(path, 'utf8');
  } catch {
    throw new InputError('no manifest (was this image made by imgbuild build?)', { file: path });
  }
  return parseManifestJson(text, path);
}
