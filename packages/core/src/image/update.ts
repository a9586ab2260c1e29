/**
 * `imgbuild update`: the offline updater. Writes a new /usr into the inactive slot and marks it to be
 * tried once. Order of writes, so an interruption at any point leaves the previous slot bootable and
 * next:
 *   1. clear the inactive slot's bits (it can no longer be chosen while it is half-written);
 *   2. write the /usr image and its verity hash area into the slot;
 *   3. write the slot's own UKI on the ESP (its command line names only this slot; the running slot's
 *      UKI is not touched, so its kernel stays what it was);
 *   4. the flip: `upgrade` the slot (successful 0, tries 1, prioritized), one crash-safe GPT write.
 * A qemu_uefi bundle is converted to raw beside its qcow2, updated, and converted back; the new qcow2
 * replaces the old one by rename, so the bundle is never half-updated.
 */
import { promises as fsp } from 'node:fs';
import { basename } from 'node:path';
import { flushFile, writeFileAtomic } from '../atomic.js';
import { withImageLock } from '../lock.js';
import { readEspFile, readUki, removeEspFiles, replaceEspFiles, ukiEspPath, type SigningKeyFiles, type UkiContents } from '../boot/index.js';
import { EMPTY_LABEL, namingOfLabel, versionedLabel, versionedUkiPath } from '../layout/versioned.js';
import { relabelSlot, versionedSlotBoot } from './versioned-slot.js';
import { updateSigner } from '../signing/plan.js';
import { formatCmdline, parseCmdline } from '../boot/cmdline.js';
import { InputError, SlotError } from '../errors.js';
import { partitions } from '../gpt/table.js';
import type { ProgressFn } from '../progress.js';
import { applySlotTransition, inactiveSlot, readSlotStatus, setSlotBits, slotStatus, upgrade, type SlotStatus } from '../slot/index.js';
import { partitionRecord, type PartitionRecord } from '../gpt/record.js';
import type { Slot } from '../layout/plan.js';
import { findEsp } from '../layout/roles.js';
import { flatcarFiles, readBootInput, readKernel, readUkiStub, slotUki } from '../boot/inputs.js';
import { encodeManifest, isLegacyBoot, manifestArchitecture, pendingUpdateManifest, manifestPathFor, readManifest, sha256Buffer, sha256File, type ImageManifest } from '../manifest/manifest.js';
import { findBundle, withRawImage } from '../qemu/bundle.js';
import { slotHashOffset, slotManifestEntry, slotSuperblockUuid, versionedSuperblockUuid, writeUsrToSlot } from './slot-writer.js';
import { checkUpdateEspRoom } from './esp-room.js';
import { probeUsrImage, usrVersion } from '../fs/usr-image.js';
import { recordImage } from '../verify/record.js';
import { digestRecord, ImageDigester, sealedTreeOf } from '../verify/image-digest.js';
import { sourceDateEpochFromEnv, updateTime } from '../repro.js';
import type { Architecture } from '../arch.js';
import { pcr11Entry } from '../attest/pcr.js';

/**
 * What {@link updateImage} writes: the new /usr (and, optionally, kernel and initrd) into an image.
 *
 * @example
 * ```ts
 * const o: UpdateOptions = { image: 'disk.raw', from: 'usr-v2.squashfs', kernel: 'vmlinuz-6.6', initrd: 'initrd-6.6.img' };
 * await updateImage(o);
 * ```
 */
export interface UpdateOptions {
  /** A raw image, or a qemu_uefi bundle folder. */
  image: string;
  from: string;
  kernel?: string;
  initrd?: string;
  /** The architecture the caller expects; refused when the image's manifest says another. */
  arch?: Architecture;
  ukiStub?: string;
  /** The key of a signed image: the new UKI is signed with it (it must be the image's certificate). */
  sign?: SigningKeyFiles;
  jobs?: number;
  onProgress?: ProgressFn;
  /** Also record the plain sha256 of the whole raw image (costs a pass over the disk's full size). */
  imageSha256?: boolean;
  /** Check every input and report the plan (the slot, the files, the state after), writing nothing. */
  dryRun?: boolean;
}

/**
 * What an update writes (or, in a dry run, would write).
 *
 * @example
 * ```ts
 * const { plan } = await updateImage({ image: 'disk.raw', from: 'usr-v2.squashfs', dryRun: true });
 * console.log(plan.partition.label, plan.usr.bytes, plan.espFiles);
 * ```
 */
export interface UpdatePlan {
  /** The slot partition that receives the /usr, in the common vocabulary. */
  partition: PartitionRecord;
  usr: { path: string; bytes: number; fsType: string };
  /** Where the new UKI's kernel and initrd come from: the given files, or the running slot's UKI. */
  kernel: string;
  initrd: string;
  /** The ESP files written (the slot's UKI; Flatcar's files with --boot-style flatcar). */
  espFiles: string[];
}

/**
 * What {@link updateImage} did (or, in a dry run, would do): the slot, its new root hash, the slot state
 * before and after, the manifest.
 *
 * @example
 * ```ts
 * const u: UpdateResult = await updateImage({ image: 'disk.raw', from: 'usr-v2.squashfs' });
 * console.log(`slot ${u.slot}: ${u.before.next} → ${u.after.next}`);
 * ```
 */
export interface UpdateResult {
  slot: Slot;
  /** The new slot's root hash; null in a dry run (the tree is not computed). */
  rootHash: string | null;
  before: SlotStatus;
  after: SlotStatus;
  plan: UpdatePlan;
  dryRun: boolean;
  /** Whether anything was written (false exactly in a dry run). */
  written: boolean;
  manifest: ImageManifest;
  manifestPath: string;
}

/**
 * Writes a new /usr into the slot that does not boot next, seals it with a new verity tree, puts a UKI
 * for it on the ESP (signed with `sign` on a signed image) and marks it to boot once (`upgrade`). The
 * image is locked meanwhile; the manifest is updated so that `verify` checks the new slot. Interrupted,
 * the image still boots the old slot.
 *
 * @example
 * ```ts
 * import { updateImage } from '@imgbuild/core';
 *
 * const u = await updateImage({ image: 'disk.raw', from: 'usr-v2.squashfs' });
 * console.log(`wrote slot ${u.slot} (${u.rootHash}); next boot: ${u.after.next}`);
 * ```
 */
export async function updateImage(o: UpdateOptions): Promise<UpdateResult> {
  await fsp.stat(o.image).catch(() => {
    throw new InputError('no such image', { file: o.image });
  });
  // A dry run writes nothing, not even the lock file.
  return o.dryRun ? updateLocked(o) : withImageLock(o.image, () => updateLocked(o));
}

async function updateLocked(o: UpdateOptions): Promise<UpdateResult> {
  const st = await fsp.stat(o.image).catch(() => {
    throw new InputError('no such image', { file: o.image });
  });
  if (!st.isDirectory()) return updateRaw(o, o.image, manifestPathFor(o.image));

  const bundle = await findBundle(o.image);
  if (o.dryRun) return withRawImage(o.image, false, (raw) => updateRaw(o, raw, bundle.manifest, false));
  // The manifest is written only once the new qcow2 is in place.
  const r = await withRawImage(o.image, true, (raw) => updateRaw(o, raw, bundle.manifest, false));
  r.manifest.image.qcow2 = { name: basename(bundle.qcow2), sha256: await sha256File(bundle.qcow2) };
  await writeFileAtomic(bundle.manifest, encodeManifest(r.manifest));
  return r;
}

async function updateRaw(o: UpdateOptions, imagePath: string, manifestPath: string, writeManifest = true): Promise<UpdateResult> {
  const displayName = o.image;
  const manifest = await readManifest(manifestPath);
  const boot = manifest.boot;
  if (isLegacyBoot(boot)) {
    throw new InputError('this image was built before the slot selector (one UKI for both slots); rebuild it with this imgbuild to update it', { file: displayName });
  }
  // One image, one machine: its kernel, stub and selector are the manifest's architecture's.
  const arch = manifestArchitecture(manifest);
  if (o.arch && o.arch !== arch) throw new InputError(`this image is ${arch} (its manifest says so), not ${o.arch}: an update cannot change the architecture`, { file: displayName });
  const usr = await probeUsrImage(o.from);
  const { table, status: before } = await readSlotStatus(imagePath, { file: displayName });
  if (!before.next) {
    throw new SlotError('no slot can boot, so none is the running system to update from; make one bootable first (imgbuild slot status shows why)', { file: displayName });
  }
  const slot = inactiveSlot(table);
  const active = before.slots.find((s) => s.slot === before.next)!;
  if (!active.successful) {
    // Overwriting the other slot now would destroy the only slot known to boot.
    throw new SlotError(
      `slot ${active.slot} holds an update that has not booted successfully yet (priority ${active.priority}, tries ${active.tries}, successful 0); boot it first, or run imgbuild slot cancel-upgrade`,
      { file: displayName },
    );
  }
  const slotNumber = before.slots.find((s) => s.slot === slot)!.number;
  // Slots named by version (sysupdate's labels): the new slot is labelled <name>_<version>, its
  // PARTUUID comes from the root hash, its UKI is named by version (image/versioned-slot.ts)
  const target = before.slots.find((s) => s.slot === slot)!;
  const naming = active.versioned ? namingOfLabel(active.label) : null;
  if (active.versioned && !naming) throw new SlotError(`the running slot ${active.slot} is labelled ${active.label}, not <name>_<version>`, { file: displayName });
  const version = naming ? await usrVersion(o.from, usr.fsType) : undefined;
  const newLabel = naming ? versionedLabel(naming, version, o.from) : part0Label(table, slotNumber);
  if (naming && newLabel === active.label) throw new InputError(`version ${version} is what slot ${active.slot} runs already (${active.label}); an update needs another version`, { file: o.from });
  const ukiPathOf = (s: { slot: Slot; label: string; versioned: boolean }) => (s.versioned ? versionedUkiPath(s.label) : ukiEspPath(s.slot));
  const newUkiPath = naming ? versionedUkiPath(newLabel) : ukiEspPath(slot);
  // the UKI of the version this update overwrites goes with it
  const staleUki = naming && target.label !== EMPTY_LABEL && target.label !== newLabel ? [versionedUkiPath(target.label)] : [];
  const part = partitions(table).find((p) => p.number === slotNumber)!;
  const partition = { label: part.name, offsetBytes: part.firstLba * table.sectorSize, sizeBytes: (part.lastLba - part.firstLba + 1) * table.sectorSize };
  const esp = findEsp(manifest.partitions, manifestPath);
  if (!esp) throw new InputError('manifest names no ESP', { file: manifestPath });
  const espOffset = esp.firstLba * table.sectorSize;

  // Everything that can fail on bad input is read before the first write. The new slot starts from the
  // running slot's boot files: its kernel and initrd unless new ones are given, its extra arguments.
  const activeUki = await readSlotUki(imagePath, espOffset, before.next!, displayName, ukiPathOf(active));
  const kernel = o.kernel ? await readKernel(o.kernel, arch) : activeUki.sections['.linux'];
  const initrd = o.initrd ? await readBootInput(o.initrd, 'initrd') : activeUki.sections['.initrd'];
  if (!kernel || !initrd) throw new InputError(`the UKI of slot ${before.next} lacks .linux or .initrd; pass --kernel and --initrd`, { file: displayName });
  const stub = await readUkiStub(o.ukiStub, arch);
  const running = parseCmdline(activeUki.cmdline);
  const extra = running.extra;
  const inputs = { kernel, initrd, stub, osRelease: activeUki.osRelease ?? '', arch };
  const signer = await updateSigner(boot.signing, o.sign, displayName);
  // Flatcar's files are named by the slots that hold a /usr: both, once this update is done.
  const bothSlots = { A: '0'.repeat(64), B: '0'.repeat(64) };
  const espFiles = [newUkiPath, ...staleUki, ...(boot.style === 'flatcar' ? flatcarFiles({ inputs, slotHashes: bothSlots, cmdlineExtra: '', hashOffset: 0 }).map((f) => f.path) : [])];
  const plan: UpdatePlan = {
    partition: partitionRecord(part, 'usr-slot'),
    usr: { path: o.from, bytes: usr.bytes, fsType: usr.fsType },
    kernel: o.kernel ?? `the running slot's UKI (${ukiPathOf(active)})`,
    initrd: o.initrd ?? `the running slot's UKI (${ukiPathOf(active)})`,
    espFiles,
  };
  // The ESP must hold the new boot files before /usr is written, dry run or not. The draft has the
  // real size: a root hash is always 64 hex digits, and it is signed as the real one will be.
  const slotCmdline = (rootHash: string) => {
    const args = { slot, partuuid: part.uuid, rootHash, hashOffset: slotHashOffset(partition.sizeBytes), fsType: usr.fsType, rootPartuuid: running.rootPartuuid, extra };
    return naming ? versionedSlotBoot({ naming, version, ...args, file: o.from }) : { label: newLabel, partuuid: part.uuid, ukiPath: newUkiPath, cmdline: formatCmdline(args) };
  };
  const draftCmdline = slotCmdline('0'.repeat(64)).cmdline;
  const draftUki = await signer.sign(slotUki(inputs, draftCmdline, o.kernel ?? o.image), newUkiPath, manifest.sourceDateEpoch ?? sourceDateEpochFromEnv());
  const draftFlatcar = boot.style === 'flatcar' ? flatcarFiles({ inputs, slotHashes: bothSlots, cmdlineExtra: extra.join(' '), hashOffset: slotHashOffset(partition.sizeBytes) }) : [];
  // The new UKI is unbooted while written (see unbootedEspFiles); a stale one is deleted first.
  const unbooted = [newUkiPath, ...(boot.style === 'flatcar' ? [`flatcar/vmlinuz-${slot.toLowerCase()}`] : [])];
  const draftFiles = [{ path: newUkiPath, data: draftUki }, ...draftFlatcar];
  const removed = staleUki.map((path) => ({ path, size: 0, inPlace: true }));
  checkUpdateEspRoom(manifest, esp, [...draftFiles.map((f) => ({ path: f.path, size: f.data.length, inPlace: unbooted.includes(f.path) })), ...removed], displayName);
  if (o.dryRun) {
    // The same two transitions as below, on the table in memory.
    const cleared = setSlotBits(table, slot, { priority: 0, tries: 0, successful: false });
    const after = slotStatus(upgrade(naming ? relabelSlot(cleared, slot, { label: newLabel, uuid: slotCmdline('0'.repeat(64)).partuuid }) : cleared, slot));
    return { slot, rootHash: null, before, after, plan, dryRun: true, written: false, manifest, manifestPath };
  }

  // 0. The manifest says an update is under way before the first byte changes: interrupted anywhere,
  // the image verifies as the old one with this slot and these files named as unfinished.
  if (writeManifest) await writeFileAtomic(manifestPath, encodeManifest(pendingUpdateManifest(manifest, slot, espFiles)));
  // 1. The slot about to be overwritten must not be chosen while it is half-written.
  // A versioned slot is labelled _empty meanwhile, as sysupdate does: the selector never starts it.
  await applySlotTransition(imagePath, (t) => {
    const cleared = setSlotBits(t, slot, { priority: 0, tries: 0, successful: false });
    return naming ? relabelSlot(cleared, slot, { label: EMPTY_LABEL }) : cleared;
  });
  if (staleUki.length) await removeEspFiles(imagePath, espOffset, staleUki, manifest.sourceDateEpoch ?? sourceDateEpochFromEnv());
  // The image digest, in parts: the partitions this update does not write from now on, on worker
  // threads; the running slot from its tree's leaf level (hashed up to its recorded root hash) rather
  // than its data; the new slot likewise once written; the ESP and the GPT, which change until the
  // end, at the end. The threads run between the two GPT writes (step 1 and the flip), never beside
  // one: a GPT write is kept as short as it was.
  const digester = new ImageDigester(imagePath, { jobs: o.jobs });
  for (const p of partitions(table)) {
    const at = p.firstLba * table.sectorSize;
    const size = (p.lastLba - p.firstLba + 1) * table.sectorSize;
    if (p.number === slotNumber || at === espOffset) continue;
    const slotHere = before.slots.find((s) => s.number === p.number)?.slot;
    const record = slotHere ? manifest.slots[slotHere] : undefined;
    if (record) digester.slot(at, size, sealedTreeOf(record));
    else digester.region(at, size);
  }
  // 2. Data and hash tree, in one pass.
  const v = await writeUsrToSlot({
    imagePath,
    partition,
    usrPath: o.from,
    usrBytes: usr.bytes,
    superblockUuid: (rootHash) => (naming ? versionedSuperblockUuid(rootHash) : slotSuperblockUuid(manifest.seed, slot, rootHash)),
    jobs: o.jobs,
    onProgress: o.onProgress,
  });
  digester.slot(partition.offsetBytes, partition.sizeBytes, v);
  // The slot's bytes start for the disk now, while the UKI is made: the flip's syncs wait for less.
  const flushing = flushFile(imagePath);
  flushing.catch(() => {}); // awaited before the flip
  // 3. The slot's own UKI; the running slot's boot files stay untouched.
  const decided = slotCmdline(v.rootHash);
  const cmdline = decided.cmdline;
  const uki = await signer.sign(slotUki(inputs, cmdline, o.kernel ?? o.image), newUkiPath, manifest.sourceDateEpoch ?? sourceDateEpochFromEnv());
  const files = [{ path: newUkiPath, data: uki }];
  if (boot.style === 'flatcar') {
    const hashes = { [before.next!]: manifest.slots[before.next!]?.rootHash, [slot]: v.rootHash } as Partial<Record<Slot, string>>;
    files.push(...flatcarFiles({ inputs, slotHashes: hashes, cmdlineExtra: extra.join(' '), hashOffset: v.hashOffset }));
  }
  await replaceEspFiles(imagePath, espOffset, files, manifest.sourceDateEpoch ?? sourceDateEpochFromEnv(), { unbooted });
  await Promise.all([digester.settle(), flushing]);
  // 4. The flip, last.
  const flip = await applySlotTransition(imagePath, (t) => upgrade(naming ? relabelSlot(t, slot, { label: decided.label, uuid: decided.partuuid }) : t, slot));

  manifest.slots[slot] = slotManifestEntry({ number: part.number, label: decided.label, uuid: decided.partuuid }, v, usr, { name: basename(o.from) }, await usrVersion(o.from, usr.fsType));
  boot.slots[slot] = { uki: newUkiPath, sha256: sha256Buffer(uki), cmdline, kernelSha256: sha256Buffer(kernel), initrdSha256: sha256Buffer(initrd), ...pcr11Entry(uki) };
  boot.signing = signer.record(boot.signing, newUkiPath, uki);
  // The identity digest costs what the image holds (FIEMAP finds its data); the plain sha256 only on request.
  const digest = digestRecord(await digester.finish());
  manifest.image = { ...manifest.image, sha256: o.imageSha256 ? await sha256File(imagePath, o.onProgress) : null, digest };
  // What verify compares, read back from the updated image (an unknown partition is digested, not trusted).
  Object.assign(manifest, await recordImage(imagePath, { sectorSize: table.sectorSize, roleOf: (n) => manifest.partitions.find((p) => p.number === n)?.role ?? 'unknown' }));
  manifest.history = [...(manifest.history ?? []), { action: 'update', slot, rootHash: v.rootHash, ...updateTime() }];
  delete manifest.pending; // an earlier update's, interrupted: this one finished the slot it left
  if (writeManifest) await writeFileAtomic(manifestPath, encodeManifest(manifest));
  return { slot, rootHash: v.rootHash, before, after: flip.after, plan, dryRun: false, written: true, manifest, manifestPath };
}

/** The running slot's UKI: where the new slot's kernel, initrd and extra arguments come from by default. */
async function readSlotUki(image: string, espOffset: number, slot: Slot, displayName: string, path = ukiEspPath(slot)): Promise<UkiContents> {
  let bytes: Buffer;
  try {
    bytes = await readEspFile(image, espOffset, path);
  } catch {
    throw new InputError(
      `the ESP has no UKI for the running slot ${slot} (${path}); was this image built by an imgbuild without the slot selector? Rebuild it`,
      { file: displayName },
    );
  }
  try {
    return readUki(bytes);
  } catch (e) {
    throw new InputError(`${path} on the ESP is not a UKI: ${(e as Error).message}`, { file: displayName });
  }
}

function part0Label(table: { entries: { name: string }[] }, n: number): string {
  return table.entries[n - 1].name;
}
