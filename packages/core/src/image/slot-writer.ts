/**
 * Writes a /usr image into a slot partition and its dm-verity hash area after it, the Flatcar way:
 * data at the partition start, superblock and tree at a hash offset fixed by the layout (the largest
 * data area whose tree still fits), so the offset never moves between builds and updates.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
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
    throw new InputError(`too large for ${partition.label} by ${need - room} bytes (${need} bytes of data; the slot holds ${room} besides its hash tree)`, {
      file,
    });
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
  /** Told how many bytes of the /usr image are in the slot (written, in the page cache) as the copy goes. */
  onWritten?: (bytes: number) => void;
}): Promise<SlotWriteResultWithSource> {
  const { partition, usrBytes } = opts;
  checkUsrFits(usrBytes, partition, opts.usrPath);
  const hashOffset = slotHashOffset(partition.sizeBytes);
  const dataBlocks = Math.ceil(usrBytes / BLOCK);
  const geometry = verityGeometry(dataBlocks);
  if (hashOffset + geometry.hashAreaSize > partition.sizeBytes) throw new InputError(`hash area does not fit ${partition.label}`, { file: opts.usrPath });

  const disk = await FileStorage.open(opts.imagePath, true);
  const src = await fsp.open(opts.usrPath, 'r');
  let usrSha256: string;
  try {
    usrSha256 = await copyHashing(src, disk, partition.offsetBytes, usrBytes, opts.usrPath, opts.onProgress, opts.onWritten);
    // The tail of the last block may hold a previous occupant's bytes: verity covers it, so zero it.
    const tail = dataBlocks * BLOCK - usrBytes;
    if (tail > 0) await disk.writeAt(partition.offsetBytes + usrBytes, Buffer.alloc(tail));
    // No fsync here: a build renames its file into place at the end, and an update's flip is a GPT
    // write whose fsyncs flush this file's data (and hash area) before the primary header changes.
  } finally {
    await src.close();
    await disk.close();
  }
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

/**
 * Copies `bytes` of `src` to `disk` at `offset` and returns their sha256: one read and one write per
 * byte, pipelined over three buffers so that the next read and the previous write (libuv's thread
 * pool) run while this thread hashes the current chunk.
 */
async function copyHashing(
  src: FileHandle,
  disk: FileStorage,
  offset: number,
  bytes: number,
  file: string,
  onProgress?: ProgressFn,
  onWritten?: (bytes: number) => void,
): Promise<string> {
  const hash = createHash('sha256');
  const CHUNK = 4 << 20;
  const bufs = [Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK)];
  const readChunk = (k: number) => {
    const at = k * CHUNK;
    return at >= bytes ? Promise.resolve(0) : readFull(src, bufs[k % 3], Math.min(CHUNK, bytes - at), at, file, bytes);
  };
  let pendingRead = readChunk(0);
  let pendingWrite: Promise<void> = Promise.resolve();
  try {
    for (let k = 0, at = 0; at < bytes; k++) {
      const n = await pendingRead;
      pendingRead = readChunk(k + 1); // into the buffer whose write was awaited last round
      const chunk = bufs[k % 3].subarray(0, n);
      hash.update(chunk);
      await pendingWrite;
      onWritten?.(at);
      pendingWrite = disk.writeAt(offset + at, chunk);
      at += n;
      onProgress?.(at, bytes, 'copy /usr');
    }
    await pendingWrite;
    onWritten?.(bytes);
  } finally {
    await Promise.allSettled([pendingRead, pendingWrite]);
  }
  return hash.digest('hex');
}

async function readFull(src: FileHandle, buf: Buffer, length: number, position: number, file: string, total: number): Promise<number> {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await src.read(buf, done, length - done, position + done);
    if (bytesRead === 0) throw new InputError(`changed while being read (${position + done} of ${total} bytes)`, { file });
    done += bytesRead;
  }
  return length;
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
