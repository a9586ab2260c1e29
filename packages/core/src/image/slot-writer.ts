/**
 * Writes a /usr image into a slot partition and its dm-verity hash area after it, the Flatcar way:
 * data at the partition start, superblock and tree at a hash offset fixed by the layout (the largest
 * data area whose tree still fits), so the offset never moves between builds and updates.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { InputError } from '../errors.js';
import { deriveBytes, deriveUuid } from '../guid.js';
import type { PlannedPartition, Slot } from '../layout/plan.js';
import type { SlotManifest } from './manifest.js';
import type { UsrFsType } from './usr-image.js';
import type { ProgressFn } from '../progress.js';
import { FileStorage } from '../storage.js';
import { DEFAULT_VERITY_PARAMS, verityGeometry, type VerityParams } from '../verity/geometry.js';
import { formatVerity } from '../verity/index.js';
import { slotHashOffset } from '../verity/slot-area.js';

const BLOCK = DEFAULT_VERITY_PARAMS.dataBlockSize;

// slotHashOffset lives in verity/slot-area.ts (slot/ needs it too); re-exported for this module's importers.
export { slotHashOffset };

/** Throws a one-line error saying by how much `usrBytes` is too large for the slot. */
export function checkUsrFits(usrBytes: number, partition: Pick<PlannedPartition, 'label' | 'sizeBytes'>, file: string): void {
  const room = slotHashOffset(partition.sizeBytes);
  const need = Math.ceil(usrBytes / BLOCK) * BLOCK;
  if (need > room) {
    throw new InputError(`too large for ${partition.label} by ${need - room} bytes (${need} bytes of data; the slot holds ${room} besides its hash tree)`, { file });
  }
}

export interface SlotWriteResult {
  rootHash: string;
  salt: string;
  hashOffset: number;
  hashAreaSize: number;
  dataBlocks: number;
  /** The superblock's UUID and the tree's parameters, as written (recorded for verify). */
  uuid: string;
  params: VerityParams;
}

/** The verity salt and superblock UUID of a slot, derived from the seed so builds are reproducible. */
export function slotVeritySecrets(seed: string, slot: Slot, usrSha256: string): { salt: Buffer; uuid: string } {
  const label = `verity-salt:${slot}:${usrSha256}`;
  return { salt: deriveBytes(seed, label, 32), uuid: deriveUuid(seed, `verity-uuid:${slot}:${usrSha256}`) };
}

export interface SlotWriteResultWithSource extends SlotWriteResult {
  /** sha256 of the /usr image, computed while copying it. */
  usrSha256: string;
}

/**
 * Copies the /usr image into the slot (hashing it on the way, so it is read once), then writes its
 * verity hash area. `secrets` is asked for the salt and superblock UUID once the image's sha256 is
 * known, since reproducible builds derive them from it.
 */
export async function writeUsrToSlot(opts: {
  imagePath: string;
  partition: Pick<PlannedPartition, 'label' | 'offsetBytes' | 'sizeBytes'>;
  usrPath: string;
  usrBytes: number;
  secrets: (usrSha256: string) => { salt: Buffer; uuid: string };
  jobs?: number;
  onProgress?: ProgressFn;
}): Promise<SlotWriteResultWithSource> {
  const { partition, usrBytes } = opts;
  checkUsrFits(usrBytes, partition, opts.usrPath);
  const hashOffset = slotHashOffset(partition.sizeBytes);
  const dataBlocks = Math.ceil(usrBytes / BLOCK);
  const geometry = verityGeometry(dataBlocks);
  if (hashOffset + geometry.hashAreaSize > partition.sizeBytes) throw new InputError(`hash area does not fit ${partition.label}`, { file: opts.usrPath });

  const hash = createHash('sha256');
  const disk = await FileStorage.open(opts.imagePath, true);
  const src = await fsp.open(opts.usrPath, 'r');
  try {
    const buf = Buffer.allocUnsafe(8 << 20);
    let at = 0;
    while (at < usrBytes) {
      const { bytesRead } = await src.read(buf, 0, Math.min(buf.length, usrBytes - at), at);
      if (bytesRead === 0) throw new InputError(`changed while being read (${at} of ${usrBytes} bytes)`, { file: opts.usrPath });
      const chunk = buf.subarray(0, bytesRead);
      hash.update(chunk);
      await disk.writeAt(partition.offsetBytes + at, chunk);
      at += bytesRead;
      opts.onProgress?.(at, usrBytes, 'copy /usr');
    }
    // The tail of the last block may hold a previous occupant's bytes: verity covers it, so zero it.
    const tail = dataBlocks * BLOCK - usrBytes;
    if (tail > 0) await disk.writeAt(partition.offsetBytes + usrBytes, Buffer.alloc(tail));
    // No fsync here: a build renames its file into place at the end, and an update's flip is a GPT
    // write whose fsyncs flush this file's data (and hash area) before the primary header changes.
  } finally {
    await src.close();
    await disk.close();
  }
  const usrSha256 = hash.digest('hex');
  const { salt, uuid } = opts.secrets(usrSha256);
  const r = await formatVerity({
    dataPath: opts.imagePath,
    dataOffset: partition.offsetBytes,
    dataBlocks,
    hashPath: opts.imagePath,
    hashOffset: partition.offsetBytes + hashOffset,
    hashLimit: partition.offsetBytes + partition.sizeBytes,
    salt,
    uuid,
    jobs: opts.jobs,
    onProgress: opts.onProgress ? (d, t) => opts.onProgress!(d, t, 'verity') : undefined,
  });
  return { rootHash: r.rootHash, salt: r.salt, hashOffset, hashAreaSize: r.hashAreaSize, dataBlocks, uuid: r.uuid ?? uuid, params: r.params, usrSha256 };
}

/** The manifest's record of what a slot now holds. */
export function slotManifestEntry(
  partition: { number: number; label: string; uuid: string },
  v: SlotWriteResult,
  usr: { fsType: UsrFsType; bytes: number },
  source: { name: string; sha256: string },
  version?: string,
): SlotManifest {
  return {
    partition: partition.number,
    label: partition.label,
    partuuid: partition.uuid,
    rootHash: v.rootHash,
    hash: v.params.hash,
    hashType: v.params.hashType,
    dataBlockSize: v.params.dataBlockSize,
    hashBlockSize: v.params.hashBlockSize,
    salt: v.salt,
    dataBlocks: v.dataBlocks,
    superblockUuid: v.uuid,
    hashOffset: v.hashOffset,
    hashAreaSize: v.hashAreaSize,
    dataBytes: usr.bytes,
    fsType: usr.fsType,
    source: { ...source, bytes: usr.bytes },
    ...(version !== undefined ? { version } : {}),
  };
}
