/** The identity manifest written beside every image: what was built, from what, and its root hashes. */
import { promises as fsp } from 'node:fs';
import { createHash } from 'node:crypto';
import { InputError } from '../errors.js';
import type { Slot } from '../layout/plan.js';
import type { ProgressFn } from '../progress.js';

export const MANIFEST_VERSION = 1;

export interface SlotManifest {
  partition: number;
  label: string;
  partuuid: string;
  rootHash: string;
  salt: string;
  /** Bytes from the partition start to the verity superblock (same for both slots). */
  hashOffset: number;
  hashAreaSize: number;
  dataBlocks: number;
  dataBytes: number;
  fsType: string;
  /** The input /usr image. */
  source: { name: string; sha256: string; bytes: number };
  version?: string;
}

/** One slot's UKI on the ESP. */
export interface SlotBootManifest {
  /** ESP path, e.g. EFI/Linux/imgbuild-usr-a.efi. */
  uki: string;
  sha256: string;
  cmdline: string;
  kernelSha256: string;
  initrdSha256: string;
}

export interface BootManifest {
  style: 'uki' | 'flatcar';
  /** The UEFI slot selector the firmware starts. */
  selector: { path: string; sha256: string };
  /** Each filled slot boots its own UKI. */
  slots: Partial<Record<Slot, SlotBootManifest>>;
}

export interface ImageManifest {
  manifestVersion: number;
  tool: string;
  format: 'raw' | 'qemu_uefi';
  layout: string;
  seed: string;
  sourceDateEpoch: number;
  disk: { guid: string; sectorSize: number; totalSectors: number; bytes: number };
  partitions: Array<{ number: number; label: string; type: string; uuid: string; startLba: number; sizeBytes: number; role: string }>;
  slots: Partial<Record<Slot, SlotManifest>>;
  boot: BootManifest;
  /** The raw disk image (for qemu_uefi: the raw image before conversion, and the qcow2). */
  image: { name: string; sha256: string; bytes: number; qcow2?: { name: string; sha256: string } };
  history?: Array<{ action: 'build' | 'update'; slot: Slot; rootHash: string; at: number }>;
}

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

export function encodeManifest(m: ImageManifest): string {
  return JSON.stringify(m, null, 2) + '\n';
}

export async function readManifest(path: string): Promise<ImageManifest> {
  let text: string;
  try {
    text = await fsp.readFile(path, 'utf8');
  } catch {
    throw new InputError('no manifest (was this image made by imgbuild build?)', { file: path });
  }
  let m: ImageManifest;
  try {
    m = JSON.parse(text) as ImageManifest;
  } catch (e) {
    throw new InputError(`manifest is not valid JSON: ${(e as Error).message}`, { file: path });
  }
  if (m.manifestVersion !== MANIFEST_VERSION) throw new InputError(`unsupported manifest version ${m.manifestVersion}`, { file: path });
  return m;
}
