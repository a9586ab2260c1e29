/** The identity manifest written beside every image: what was built, from what, and its root hashes. */
import { promises as fsp } from 'node:fs';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { InputError } from '../errors.js';
import type { Slot } from '../layout/plan.js';

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
  boot: {
    style: 'uki' | 'flatcar';
    espPath: string;
    cmdline: string;
    kernelSha256: string;
    initrdSha256: string;
    ukiSha256: string;
  };
  /** The raw disk image (for qemu_uefi: the raw image before conversion, and the qcow2). */
  image: { name: string; sha256: string; bytes: number; qcow2?: { name: string; sha256: string } };
  history?: Array<{ action: 'build' | 'update'; slot: Slot; rootHash: string; at: number }>;
}

export function sha256Buffer(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 4 << 20 })) h.update(chunk as Buffer);
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
  const m = JSON.parse(text) as ImageManifest;
  if (m.manifestVersion !== MANIFEST_VERSION) throw new InputError(`unsupported manifest version ${m.manifestVersion}`, { file: path });
  return m;
}
