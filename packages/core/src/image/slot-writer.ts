/**
 * The bytes of a slot holding a /usr, decided here for `build`, `update` and `publish`: the /usr at
 * the partition start, its dm-verity superblock and tree at a hash offset fixed by the layout (the
 * largest data area whose tree still fits), so the offset never moves between builds and updates.
 * writeUsrToSlot writes them into a partition of an image; slotPayload streams them for a feed.
 */
import { createReadStream, promises as fsp, statSync } from 'node:fs';
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
 * so builds are reproducible. (Slot trees have no salt: see sealUsr.)
 */
export function slotSuperblockUuid(seed: string, slot: Slot, rootHash: string): string {
  return deriveUuid(seed, `verity-uuid:${slot}:${rootHash}`);
}

/** Where a /usr of `usrBytes` lies in a slot: its blocks from byte 0, its hash area at the slot's hash offset. */
interface SlotArea {
  hashOffset: number;
  dataBlocks: number;
}

/** The slot's area for the /usr, checked to fit (data and hash area) before anything is written. */
function slotArea(usrPath: string, usrBytes: number, partition: Pick<PlannedPartition, 'label' | 'sizeBytes'>): SlotArea {
  checkUsrFits(usrBytes, partition, usrPath);
  const hashOffset = slotHashOffset(partition.sizeBytes);
  const dataBlocks = Math.ceil(usrBytes / BLOCK);
  if (hashOffset + verityGeometry(dataBlocks).hashAreaSize > partition.sizeBytes) throw new InputError(`hash area does not fit ${partition.label}`, { file: usrPath });
  return { hashOffset, dataBlocks };
}

/** What every slot writer is given: the /usr, how its superblock is named. */
interface SlotSource {
  usrPath: string;
  usrBytes: number;
  superblockUuid: (rootHash: string) => string;
  jobs?: number;
  onProgress?: ProgressFn;
}

/**
 * The slot's verity tree over the /usr, with the one set of parameters every slot has: no salt (its
 * leaf level is then the image digest's for these bytes, verity/leaf-groups.ts, and its root hash the
 * /usr image's own identity, which `veritysetup format --salt=- USR HASHFILE` recomputes from the
 * source file alone), the last block zero padded, the superblock's UUID asked for once the root hash
 * is known. `hash` says where the hash area goes, `copyTo` where the data blocks are also written.
 * Fails when the source changes while it is read.
 */
async function sealUsr(o: SlotSource, area: SlotArea, hash: { path: string; offset: number; limit?: number }, copyTo?: { path: string; offset: number }): Promise<SlotWriteResult> {
  const before = sourceState(o.usrPath);
  const r = await formatVerity({
    dataPath: o.usrPath,
    dataBlocks: area.dataBlocks,
    pad: true,
    copyTo,
    hashPath: hash.path,
    hashOffset: hash.offset,
    hashLimit: hash.limit,
    salt: null,
    uuid: o.superblockUuid,
    // A build renames its file into place at the end, an update's flip is a GPT write whose fsyncs
    // flush this file's data and hash area before the primary header changes, and a payload is read
    // back at once.
    sync: false,
    jobs: o.jobs,
    onProgress: o.onProgress ? (d, t) => o.onProgress!(d, t, copyTo ? 'copy /usr + verity' : 'verity') : undefined,
  });
  if (sourceState(o.usrPath) !== before || r.dataBlocks !== area.dataBlocks) {
    throw new InputError(`changed while being read (it had ${o.usrBytes} bytes)`, { file: o.usrPath });
  }
  return { rootHash: r.rootHash, salt: r.salt, hashOffset: area.hashOffset, hashAreaSize: r.hashAreaSize, dataBlocks: area.dataBlocks, uuid: r.uuid!, params: r.params };
}

/**
 * Copies the /usr image into the slot and writes its verity hash area in one pass: the verity engine's
 * threads read each block of the source once, write it into the slot and hash it, so the tree seals
 * exactly the bytes written (sealUsr for the tree's parameters).
 */
export async function writeUsrToSlot(opts: SlotSource & { imagePath: string; partition: Pick<PlannedPartition, 'label' | 'offsetBytes' | 'sizeBytes'> }): Promise<SlotWriteResult> {
  const { partition } = opts;
  const area = slotArea(opts.usrPath, opts.usrBytes, partition);
  return sealUsr(
    opts,
    area,
    { path: opts.imagePath, offset: partition.offsetBytes + area.hashOffset, limit: partition.offsetBytes + partition.sizeBytes },
    { path: opts.imagePath, offset: partition.offsetBytes },
  );
}

/**
 * The bytes writeUsrToSlot writes into a slot of `partition.sizeBytes`, from the slot's first byte to
 * the end of its hash area, as a stream (a payload that something else writes into a partition):
 * the /usr, zeros up to the hash offset, the hash area. The /usr is streamed from its file while the
 * tree is computed beside it (into `scratch`, a file of the hash area's size), so nothing of the size
 * of the /usr is written; the stream ends with the hash area once the tree is done, and fails if the
 * source changed meanwhile. `sealed` settles with the tree (await it after the stream).
 */
export function slotPayload(opts: SlotSource & { partition: Pick<PlannedPartition, 'label' | 'sizeBytes'>; scratch: string }): { bytes: number; chunks: AsyncIterable<Buffer>; sealed: Promise<SlotWriteResult> } {
  const area = slotArea(opts.usrPath, opts.usrBytes, opts.partition);
  const before = sourceState(opts.usrPath);
  const sealed = (async () => {
    await fsp.writeFile(opts.scratch, '');
    return sealUsr(opts, area, { path: opts.scratch, offset: 0 });
  })();
  sealed.catch(() => {}); // the stream awaits it (and fails with it) before its end
  const bytes = area.hashOffset + verityGeometry(area.dataBlocks).hashAreaSize;
  async function* chunks(): AsyncGenerator<Buffer> {
    yield* readRange(opts.usrPath, opts.usrBytes);
    yield* zeros(area.hashOffset - opts.usrBytes);
    const w = await sealed;
    yield* readRange(opts.scratch, w.hashAreaSize);
    if (sourceState(opts.usrPath) !== before) throw new InputError(`changed while being read (it had ${opts.usrBytes} bytes)`, { file: opts.usrPath });
  }
  return { bytes, chunks: chunks(), sealed };
}

const CHUNK = 1 << 20;

/** The first `bytes` bytes of a file, in chunks; fails if the file is shorter. */
async function* readRange(path: string, bytes: number): AsyncGenerator<Buffer> {
  let got = 0;
  for await (const chunk of createReadStream(path, { start: 0, end: bytes - 1, highWaterMark: CHUNK }) as AsyncIterable<Buffer>) {
    got += chunk.length;
    yield chunk;
  }
  if (got !== bytes) throw new InputError(`holds ${got} bytes, not ${bytes}`, { file: path });
}

function* zeros(bytes: number): Generator<Buffer> {
  const z = Buffer.alloc(Math.min(CHUNK, bytes));
  for (let left = bytes; left > 0; left -= z.length) yield left >= z.length ? z : z.subarray(0, left);
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
