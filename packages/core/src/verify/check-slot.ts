/**
 * A USR slot: its verity superblock on disk against the manifest's parameters field by field (a
 * hand-edited manifest or superblock names the field), then the data through the tree against the
 * manifest's root hash. The tree is walked with the superblock's own parameters, so the two checks
 * prove different things and a failure in one does not hide the other.
 */
import { CorruptError } from '../errors.js';
import type { ImageManifest, SlotManifest } from '../manifest/manifest.js';
import type { Slot } from '../layout/plan.js';
import type { ProgressFn } from '../progress.js';
import { decodeVeritySuperblock, verifyVerity, SUPERBLOCK_SIZE } from '../verity/index.js';
import { compareFields, fail, notCovered, pass, type ImageCheck } from './check.js';
import { partName } from './coverage.js';
import { readBytes } from './digest.js';
import { clipExtents, dataExtents, type Extent } from '../extents.js';
import { slotOfLabel } from '../layout/plan.js';
import { getBootBits } from '../gpt/attributes.js';

const SB_FIELDS = ['hash', 'hashType', 'dataBlockSize', 'hashBlockSize', 'salt', 'dataBlocks', 'superblockUuid'] as const;
type SbFields = Pick<SlotManifest, (typeof SB_FIELDS)[number]>;

async function readSuperblock(image: string, offset: number): Promise<SbFields> {
  const b = await readBytes(image, offset, SUPERBLOCK_SIZE);
  const sb = decodeVeritySuperblock(b, image);
  return { hash: sb.hash, hashType: sb.hashType, dataBlockSize: sb.dataBlockSize, hashBlockSize: sb.hashBlockSize, salt: sb.salt.length > 0 ? sb.salt.toString('hex') : null, dataBlocks: sb.dataBlocks, superblockUuid: sb.uuid };
}

async function superblockChecks(region: string, s: Slot, image: string, rec: SlotManifest, offset: number): Promise<ImageCheck[]> {
  let found: SbFields;
  try {
    found = await readSuperblock(image, offset);
  } catch (e) {
    if (e instanceof CorruptError) return [fail(region, 'verity superblock', 'a valid superblock', null, `none at slots.${s}.hashOffset ${rec.hashOffset}: ${e.message}`)];
    throw e;
  }
  // A version-1 manifest never recorded the superblock UUID: that one field is left out.
  const keys = SB_FIELDS.filter((k) => k !== 'superblockUuid' || rec.superblockUuid !== undefined);
  const out = compareFields(region, 'verity superblock', rec, found, keys, { prefix: `slots.${s}.`, sources: ['manifest', 'superblock on disk'] });
  if (rec.superblockUuid === undefined) out.push(notCovered(region, 'verity superblock uuid', 'manifest version 1 did not record it'));
  return out;
}

async function treeCheck(region: string, s: Slot, image: string, rec: SlotManifest, start: number, o: { jobs?: number; onProgress?: ProgressFn }): Promise<ImageCheck> {
  try {
    const v = await verifyVerity({ dataPath: image, dataOffset: start, hashOffset: start + rec.hashOffset, rootHash: rec.rootHash, jobs: o.jobs, onProgress: o.onProgress });
    if (v.ok && v.hashAreaSize !== rec.hashAreaSize) return fail(region, `slots.${s}.hashAreaSize`, rec.hashAreaSize, v.hashAreaSize, `expected ${rec.hashAreaSize} (manifest), found ${v.hashAreaSize} (the tree's geometry)`);
    if (v.ok) return pass(region, 'dm-verity', `${v.dataBlocks} data blocks and the hash tree match root hash ${rec.rootHash}`, rec.rootHash);
    const computed = /hashes to ([0-9a-f]+), not the root hash/.exec(v.message)?.[1] ?? null;
    return fail(region, `dm-verity ${v.region}`, rec.rootHash, computed, v.message);
  } catch (e) {
    return fail(region, 'dm-verity', rec.rootHash, null, (e as Error).message);
  }
}

/** The partition that holds slot `s`, by role and label: known even while the manifest records no /usr there. */
function slotPartition(m: ImageManifest, s: Slot) {
  const slots = m.partitions.filter((p) => p.role === 'usr-slot').sort((a, b) => a.number - b.number);
  const lettered = slots.find((p) => slotOfLabel(p.label) === s);
  if (lettered) return lettered;
  // slots named by version (<name>_<version>, _empty): A and B in table order, as findSlots has it
  return slots.length === 2 && slots.every((p) => !slotOfLabel(p.label)) ? slots[s === 'A' ? 0 : 1] : undefined;
}

/**
 * A slot the manifest records no /usr in was written as nothing: every byte of it is zero. Only what
 * the filesystem says holds data is read (FIEMAP; a fresh image's empty slot is a hole), so the check
 * costs what somebody put there.
 */
async function emptySlotCheck(region: string, s: Slot, image: string, m: ImageManifest): Promise<ImageCheck> {
  const part = slotPartition(m, s);
  if (!part) return fail(region, 'partition', `a usr-slot partition for slot ${s}`, null, 'the manifest lists none');
  const start = part.firstLba * m.disk.sectorSize;
  const size = (part.lastLba - part.firstLba + 1) * m.disk.sectorSize;
  const extents = clipExtents((await dataExtents(image)) ?? [[start, size]], start, size);
  const at = await firstNonZero(image, extents);
  if (at === null) return pass(region, 'contents', `empty, as recorded: all ${size} bytes are zero (${extents.reduce((n, [, l]) => n + l, 0)} bytes held data to read)`, 'zeros');
  return fail(region, 'contents', 'zeros (the manifest records no /usr in this slot)', `data at byte ${at - start} of the partition`, `the manifest records no /usr in slot ${s}, but the partition holds data from byte ${at - start}`);
}

/** The image offset of the first non-zero byte within `extents`, or null. */
async function firstNonZero(image: string, extents: readonly Extent[]): Promise<number | null> {
  const CHUNK = 1 << 20;
  const zeros = Buffer.alloc(CHUNK);
  for (const [offset, length] of extents) {
    for (let done = 0; done < length; done += CHUNK) {
      const b = await readBytes(image, offset + done, Math.min(CHUNK, length - done));
      if (b.equals(zeros.subarray(0, b.length))) continue; // memcmp; the byte loop only where data is
      return offset + done + b.findIndex((x) => x !== 0);
    }
  }
  return null;
}

/**
 * An interrupted update's slot may not be bootable: the update makes it bootable only after every byte
 * is written, and records it right after. A bootable one means the stop fell in between: its bytes are
 * probably whole, but nothing here vouches for them.
 */
export function pendingBootCheck(m: ImageManifest, entries: ReadonlyArray<{ number: number; attributes: bigint }> | undefined): ImageCheck[] {
  const s = m.pending?.slot;
  const part = s && slotPartition(m, s);
  const entry = part && entries?.find((e) => e.number === part.number);
  if (!s || !entry) return [];
  const b = getBootBits(entry.attributes);
  if (b.priority === 0 || (b.tries === 0 && !b.successful)) return [pass(`slot ${s}`, 'boot bits', `not bootable while its update is unfinished (priority ${b.priority}, tries ${b.tries})`)];
  return [
    fail(`slot ${s}`, 'boot bits', 'not bootable while its update is unfinished', `priority ${b.priority}, tries ${b.tries}, successful ${b.successful ? 1 : 0}`,
      `slot ${s} can boot, but its interrupted update was never recorded: run imgbuild slot cancel-upgrade, then imgbuild update again`),
  ];
}

export async function checkSlot(image: string, m: ImageManifest, s: Slot, o: { jobs?: number; onProgress?: ProgressFn } = {}): Promise<ImageCheck[]> {
  const region = `slot ${s}`;
  const rec = m.slots[s];
  if (m.pending?.slot === s) return [notCovered(region, 'contents', `an update of slot ${s} was interrupted before it was recorded; run imgbuild update again to finish one`)];
  if (!rec) return [await emptySlotCheck(region, s, image, m)];
  const part = m.partitions.find((p) => p.number === rec.partition);
  if (!part) return [fail(region, 'partition', rec.partition, null, `the manifest's slot names partition ${rec.partition}, which its partition list lacks`)];
  const out: ImageCheck[] = [];
  if (rec.partuuid !== part.uuid) out.push(fail(region, `slots.${s}.partuuid`, part.uuid, rec.partuuid, `the slot says ${rec.partuuid}, partition ${part.number} is ${part.uuid}`));
  const start = part.firstLba * m.disk.sectorSize;
  out.push(...(await superblockChecks(region, s, image, rec, start + rec.hashOffset)));
  out.push(await treeCheck(region, s, image, rec, start, o));
  const end = (part.lastLba - part.firstLba + 1) * m.disk.sectorSize;
  out.push(notCovered(region, 'outside dm-verity', `bytes ${rec.dataBlocks * rec.dataBlockSize}..${rec.hashOffset} and ${rec.hashOffset + rec.hashAreaSize}..${end} of ${partName(part)} are outside the tree (the kernel never reads them)`));
  return out;
}
