/**
 * Writes a /usr image into a slot partition and its dm-verity hash area after it, the Flatcar way:
 * data at the partition start, superblock and tree at a hash offset fixed by the layout (the largest
 * data area whose tree still fits), so the offset never moves between builds and updates.
 */
import { statSync } from 'node:fs';
import { InputError } from '../errors.js';
import { deriveUuid } from '../guid.js';
import type { PlannedPartition, Slot } from '../layout/plan.js';
import type { SlotManifest } from '../manifest/manifest.js';
import type { UsrFsType } from '../fs/usr-image.js';
import type { ProgressFn } from '../progress.js';
import { DEFAULT_VERITY_PARAMS, verityGeometry, type VerityParams } from '../verity/geometry.js';
import { formatVerity } from '../verity/index.js';
import { slotHashOffset } from '../verity/slot-area.js';

const BLOCK = DEFAULT_VERITY_PARAMS.dataBlockSize;

// slotHashOffset lives in verity/slot-area.ts (slot/ needs it too); re-exported for this module's importers.
export { slotHashOffset };

/**
 * The superblock UUID of a versioned slot (layout/versioned.ts): from the root hash alone, so that the
 * published payload, an offline update and a build write the same bytes whatever the image's seed.
 */
export function versionedSuperblockUuid(rootHash: string): string {
  return deriveUuid('imgbuild-versioned-slot', `verity-uuid:${rootHash}`);
}

/** Throws a one-line error saying by how much `usrBytes` is too large for the slot. */
export function checkUsrFits(usrBytes: number, partition: Pick<PlannedPartition, 'label' | 'sizeBytes'>, file: string, packedAs?: string): void {
  const room = slotHashOffset(partition.sizeBytes);
  const need = Math.ceil(usrBytes / BLOCK) * BLOCK;
  if (need > room) {
    const what = packedAs ? `packed as ${packedAs}, ` : '';
    throw new InputError(`${what}too large for ${partition.label} by ${need - room} bytes (${need} bytes of data; the slot holds ${room} besides its hash tree)`, {
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

/**
 * The superblock UUID of a slot holding the /usr whose root hash is `rootHash`, derived from the seed
 * so builds are reproducible. (Slot trees have no salt: see writeUsrToSlot.)
 */
export function slotSuperblockUuid(seed: string, slot: Slot, rootHash: string): string {
  return deriveUuid(seed, `verity-uuid:${slot}:${rootHash}`);
}

/**
 * Copies the /usr image into the slot and writes its verity hash area in one pass: the verity engine's
 * threads read each block of the source once, write it into the slot and hash it, so the tree seals
 * exactly the bytes written. The tree has no salt: its leaf level is then the image digest's for
 * these bytes (verity/leaf-groups.ts), and its root hash is the /usr image's own identity, which
 * `veritysetup format --salt=- USR HASHFILE` recomputes from the source file alone. `superblockUuid`
 * is asked for the superblock's UUID once the root hash is known.
 */
export async function writeUsrToSlot(opts: {
  imagePath: string;
  partition: Pick<PlannedPartition, 'label' | 'offsetBytes' | 'sizeBytes'>;
  usrPath: string;
  usrBytes: number;
  superblockUuid: (rootHash: string) => string;
  jobs?: number;
  onProgress?: ProgressFn;
}): Promise<SlotWriteResult> {
  const { partition, usrBytes } = opts;
  checkUsrFits(usrBytes, partition, opts.usrPath);
  const hashOffset = slotHashOffset(partition.sizeBytes);
  const dataBlocks = Math.ceil(usrBytes / BLOCK);
  const geometry = verityGeometry(dataBlocks);
  if (hashOffset + geometry.hashAreaSize > partition.sizeBytes) throw new InputError(`hash area does not fit ${partition.label}`, { file: opts.usrPath });

  const before = sourceState(opts.usrPath);
  const r = await formatVerity({
    dataPath: opts.usrPath,
    dataBlocks,
    pad: true,
    copyTo: { path: opts.imagePath, offset: partition.offsetBytes },
    hashPath: opts.imagePath,
    hashOffset: partition.offsetBytes + hashOffset,
    hashLimit: partition.offsetBytes + partition.sizeBytes,
    salt: null,
    uuid: opts.superblockUuid,
    // A build renames its file into place at the end, and an update's flip is a GPT write whose
    // fsyncs flush this file's data and hash area before the primary header changes.
    sync: false,
    jobs: opts.jobs,
    onProgress: opts.onProgress ? (d, t) => opts.onProgress!(d, t, 'copy /usr + verity') : undefined,
  });
  if (sourceState(opts.usrPath) !== before || r.dataBlocks !== dataBlocks) {
    throw new InputError(`changed while being read (it had ${usrBytes} bytes)`, { file: opts.usrPath });
  }
  return { rootHash: r.rootHash, salt: r.salt, hashOffset, hashAreaSize: r.hashAreaSize, dataBlocks, uuid: r.uuid!, params: r.params };
}

/** What tells a file that changed under us from one that did not: size, change time, inode. */
function sourceState(path: string): string {
  const st = statSync(path, { bigint: true });
  return `${st.size}:${st.ctimeNs}:${st.mtimeNs}:${st.ino}`;
}

/** The manifest's record of what a slot now holds. */
export function slotManifestEntry(
  partition: { number: number; label: string; uuid: string },
  v: SlotWriteResult,
  usr: { fsType: UsrFsType; bytes: number },
  source: { name: string },
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
    salt: v.salt === '' ? null : v.salt,
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
