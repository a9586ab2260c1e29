/**
 * `imgbuild build`: a bootable A/B disk image from a /usr filesystem image. Everything is built in a
 * temporary file beside the target and renamed at the end; every random value comes from the seed.
 */
import { promises as fsp } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { assertWritableTarget, flushFile, trackTemporary, withAtomicOutput, writeFileAtomic } from '../atomic.js';
import { withLockIfExists } from '../lock.js';
import { espPlanFiles, espVolumeId, loadSigningKey, makeEsp, selectorEspPath, ukiEspPath, type SigningKeyFiles } from '../boot/index.js';
import { DEFAULT_ARCHITECTURE, type Architecture } from '../arch.js';
import { checkLayoutArchitecture } from '../layout/architecture.js';
import { signedPlan, signingRecord } from '../signing/plan.js';
import { DEFAULT_CONSOLE_ARGS, formatCmdline, userCmdlineArgs } from '../boot/cmdline.js';
import { InputError, LayoutError, UsageError } from '../errors.js';
import { freshImageProblem } from '../slot/state.js';
import { writeGpt } from '../gpt/io.js';
import { loadLayout } from '../layout/load.js';
import { findEsp } from '../layout/roles.js';
import { planToTable, requireSlotPair, type LayoutPlan, type PlannedPartition } from '../layout/plan.js';
import { checkEspRoom } from './esp-room.js';
import type { ProgressFn } from '../progress.js';
import { FileStorage } from '../storage.js';
import { defaultSeed } from '../layout/gpt-image.js';
import { TOOL } from '../version.js';
import { pcr11Entry } from '../attest/pcr.js';
import { buildPlan, type BuildPlan } from './build-plan.js';
import { defaultOsRelease, flatcarFiles, flatcarKernel, readBootInput, readKernel, readSelector, readUkiStub, slotUki, type BootStyle } from '../boot/inputs.js';
import { MANIFEST_VERSION, encodeManifest, manifestPathFor, sha256Buffer, sha256File, type ByteRange, type ImageManifest } from '../manifest/manifest.js';
import { writeQemuBundle } from '../qemu/bundle-write.js';
import { digestRecord, ImageDigester } from '../verify/image-digest.js';
import { recordImage } from '../verify/record.js';
import { checkSeed } from '../guid.js';
import { checkUsrFits, slotHashOffset, slotManifestEntry, slotSuperblockUuid, versionedSuperblockUuid, writeUsrToSlot } from './slot-writer.js';
import { slotNaming, versionedLabel, versionedUkiPath } from '../layout/versioned.js';
import { versionedSlotBoot } from './versioned-slot.js';
import { probeUsrImage, usrVersion } from '../fs/usr-image.js';
import { mksquashfsReproducible, sourceDateEpochFromEnv } from '../repro.js';
import { checkRootTree, rootPartition, writeRootFsRecorded } from '../rootfs/partition.js';
import type { RecordedBuildConfig } from '../manifest/build-config.js';


/**
 * What {@link buildImage} writes: a raw disk image, or a `qemu_uefi` bundle folder (a qcow2 disk, its
 * UEFI firmware and variables, a launch script).
 *
 * @example
 * ```ts
 * await buildImage({ ...options, format: 'qemu_uefi', output: 'vm' }); // vm/vm.qcow2, vm/vm_efi_code.fd, …
 * ```
 */
export type ImageFormat = 'raw' | 'qemu_uefi';

/**
 * What {@link buildImage} and {@link planBuild} build: the inputs (a /usr image or folder, kernel,
 * initrd), the layout, the boot and signing options, the output. Every other value comes from the seed
 * and `sourceDateEpoch`, so the same options give the same bytes.
 *
 * @example
 * ```ts
 * const options: BuildOptions = {
 *   from: 'usr.squashfs',
 *   kernel: 'vmlinuz',
 *   initrd: 'initrd.img',
 *   layout: 'flatcar',
 *   cmdline: 'quiet',
 *   sign: { key: 'db.key', cert: 'db.crt' },
 *   output: 'disk.raw',
 *   seed: 'release-42',
 * };
 * ```
 */
export interface BuildOptions {
  /** A squashfs/erofs image of /usr. */
  from?: string;
  /** A folder holding the contents of /usr, packed with mksquashfs. */
  fromDir?: string;
  kernel: string;
  initrd: string;
  /** The machine the image boots on (kernel, stub, selector, firmware); default x86-64. */
  arch?: Architecture;
  layout?: string | LayoutPlan;
  format?: ImageFormat;
  seed?: string;
  /** Extra kernel command line arguments. */
  cmdline?: string;
  /** Format the layout's ROOT (role `root`) as ext4 from this tree, and boot with root= on it. */
  rootTree?: string;
  bootStyle?: BootStyle;
  osRelease?: string;
  output: string;
  force?: boolean;
  sourceDateEpoch?: number;
  jobs?: number;
  ukiStub?: string;
  /** The UEFI slot selector; default: the one built from packages/efi-select. */
  selector?: string;
  ovmfCode?: string;
  ovmfVars?: string;
  /** Sign the selector and every UKI (Authenticode, SHA-256) with this key and certificate. */
  sign?: SigningKeyFiles;
  /** qemu_uefi: OVMF's Secure Boot firmware, its variables enrolling the signing certificate. */
  secureBoot?: boolean;
  /** Also record the plain sha256 of the whole raw image (costs a pass over the disk's full size). */
  imageSha256?: boolean;
  /** The configuration this build was resolved from (config/), recorded in the manifest as it is. */
  buildConfig?: RecordedBuildConfig;
  onProgress?: ProgressFn;
}

/**
 * What {@link buildImage} wrote: the image (or bundle folder), its manifest and the manifest's path.
 *
 * @example
 * ```ts
 * const { output, manifestPath, manifest } = await buildImage(options);
 * console.log(output, manifestPath, manifest.slots.A?.rootHash);
 * ```
 */
export interface BuildResult {
  manifest: ImageManifest;
  output: string;
  manifestPath: string;
}


/** A layout whose fresh image would not boot slot A is refused before the first write. */
function requireFreshBoot(plan: LayoutPlan, source: string): void {
  // Attribute bits do not depend on the seed; any seed gives the table to judge.
  const problem = freshImageProblem(planToTable(plan, 'fresh-boot-check'));
  if (problem) throw new LayoutError(`layout ${plan.name}: ${problem}`, { file: source });
}

export function espPartition(plan: LayoutPlan, source: string = plan.name): PlannedPartition {
  const esp = findEsp(plan.partitions, source);
  if (!esp) throw new LayoutError(`layout ${plan.name} has no ESP (role "esp")`, { file: source });
  return esp;
}

/**
 * Builds a bootable A/B disk image: the layout's GPT, the /usr image in slot A sealed by dm-verity, an
 * ESP with the UEFI slot selector and a UKI per slot, and the manifest beside it. Everything is written
 * to a temporary file beside the output and renamed at the end; an existing output needs `force`.
 *
 * @example
 * ```ts
 * import { buildImage } from '@imgbuild/core';
 *
 * const { manifest, manifestPath } = await buildImage({ from: 'usr.squashfs', kernel: 'vmlinuz', initrd: 'initrd.img', layout: 'mini', output: 'disk.raw' });
 * console.log(manifestPath, manifest.slots.A?.rootHash);
 * ```
 */
export async function buildImage(o: BuildOptions): Promise<BuildResult> {
  return (await buildOrPlan(o, false)) as BuildResult;
}

/**
 * `build --dry-run`: reads and checks every input as buildImage does, and returns the plan; writes nothing.
 *
 * @example
 * ```ts
 * const plan = await planBuild({ from: 'usr.squashfs', kernel: 'vmlinuz', initrd: 'initrd.img', output: 'disk.raw' });
 * console.log(plan.files, plan.partition.label, plan.espFiles.map((f) => f.path));
 * ```
 */
export async function planBuild(o: BuildOptions): Promise<BuildPlan> {
  return (await buildOrPlan(o, true)) as BuildPlan;
}

async function buildOrPlan(o: BuildOptions, dryRun: boolean): Promise<BuildResult | BuildPlan> {
  if (!!o.from === !!o.fromDir) throw new UsageError('give exactly one of --from <squashfs> or --from-dir <dir>');
  checkSeed(o.seed);
  const format = o.format ?? 'raw';
  const style = o.bootStyle ?? 'uki';
  const sde = o.sourceDateEpoch ?? sourceDateEpochFromEnv();
  const plan = typeof o.layout === 'object' ? o.layout : await loadLayout(o.layout ?? 'mini');
  const slots = requireSlotPair(plan, typeof o.layout === 'string' ? o.layout : plan.name);
  requireFreshBoot(plan, typeof o.layout === 'string' ? o.layout : plan.name);
  const arch = o.arch ?? DEFAULT_ARCHITECTURE;
  checkLayoutArchitecture(plan, arch, typeof o.layout === 'string' ? o.layout : plan.name);
  const esp = espPartition(plan, typeof o.layout === 'string' ? o.layout : plan.name);
  const rootPart = o.rootTree ? rootPartition(plan, typeof o.layout === 'string' ? o.layout : plan.name) : undefined;
  const extra = [...DEFAULT_CONSOLE_ARGS, ...userCmdlineArgs(o.cmdline, '--cmdline', { rootOwned: !!rootPart })];
  if (o.secureBoot && format !== 'qemu_uefi') throw new UsageError('--secure-boot needs --format qemu_uefi (a raw image has no firmware)');
  if (o.secureBoot && !o.sign) throw new UsageError('--secure-boot needs --sign-key and --sign-cert: the firmware enrolls that certificate');

  // Inputs first: every bad input fails before anything is written.
  const manifestPath = manifestPathFor(o.output);
  if (format === 'raw' && !dryRun) await assertWritableTarget(manifestPath, !!o.force);
  const scratch = await mkdtemp(join(tmpdir(), 'imgbuild-'));
  const untrackScratch = trackTemporary(scratch); // removed on Ctrl-C too: it may hold a whole raw image
  try {
    let usrPath = o.from!;
    if (o.fromDir) {
      usrPath = join(scratch, 'usr.squashfs');
      await mksquashfsReproducible(o.fromDir, usrPath, sde);
    }
    const usr = await probeUsrImage(usrPath);
    if (o.rootTree) await checkRootTree(o.rootTree);
    // named after what the user gave: a tree packed here lives under a temporary folder
    checkUsrFits(usr.bytes, slots.A, o.fromDir ?? usrPath, o.fromDir ? usr.fsType : undefined);
    const kernel = await readKernel(o.kernel, arch);
    if (style === 'flatcar') {
      try {
        flatcarKernel(kernel, '0'.repeat(64)); // fails now, not after the slot is written, if it cannot carry the hash
      } catch (e) {
        throw new InputError((e as Error).message, { file: o.kernel });
      }
    }
    const initrd = await readBootInput(o.initrd, 'initrd');
    const stub = await readUkiStub(o.ukiStub, arch);
    const selector = await readSelector(o.selector, arch);
    const key = o.sign ? await loadSigningKey(o.sign) : undefined;
    const osRelease = o.osRelease ? (await readBootInput(o.osRelease, 'os-release')).toString('utf8') : defaultOsRelease();
    const kernelSha = sha256Buffer(kernel);
    const initrdSha = sha256Buffer(initrd);
    const version = await usrVersion(usrPath, usr.fsType);
    // Slots named by version (systemd-sysupdate's labels): A is <name>_<version>, its UKI named so.
    const naming = slotNaming(plan);
    const labelA = naming ? versionedLabel(naming, version, o.fromDir ?? usrPath) : slots.A.label;
    // The boot files as they will be, with a stand-in root hash of the same length: their sizes are final.
    const draftArgs = { slot: 'A' as const, partuuid: '0'.repeat(8) + '-0000-0000-0000-' + '0'.repeat(12), rootHash: '0'.repeat(64), hashOffset: slotHashOffset(slots.A.sizeBytes), fsType: usr.fsType, rootPartuuid: rootPart ? '0'.repeat(8) + '-0000-0000-0000-' + '0'.repeat(12) : undefined, extra };
    const draftCmdline = naming ? versionedSlotBoot({ naming, version, ...draftArgs }).cmdline : formatCmdline(draftArgs);
    const draftUki = slotUki({ kernel, initrd, stub, osRelease, arch }, draftCmdline, o.kernel);
    const draftFlatcar = style === 'flatcar' ? flatcarFiles({ inputs: { kernel, initrd, stub, osRelease, arch }, slotHashes: { A: draftArgs.rootHash }, cmdlineExtra: extra.join(' '), hashOffset: draftArgs.hashOffset }) : [];
    // Signed drafts when signing: a signature adds a few KiB to each file.
    const ukiPaths = naming ? { A: versionedUkiPath(labelA) } : undefined;
    const draftPlan = await signedPlan({ arch, selector, ukis: { A: draftUki }, ukiPaths, extra: draftFlatcar }, key, sde);
    checkEspRoom(plan, esp, espPlanFiles(draftPlan), draftPlan.ukis.A!.length, typeof o.layout === 'string' ? o.layout : plan.name);
    if (dryRun) {
      const usrIn = { path: o.from ?? o.fromDir!, bytes: usr.bytes, fsType: usr.fsType };
      return buildPlan({ format, architecture: arch, output: o.output, manifestPath, plan, slotA: slots.A, usr: usrIn, espFiles: espPlanFiles(draftPlan), signed: !!key, secureBoot: !!o.secureBoot });
    }

    const buildRaw = async (imagePath: string) => {
      await (await FileStorage.create(imagePath, plan.diskBytes)).close();
      // /usr goes in first: copied and sealed in one pass; without --seed the seed derives from its root hash.
      let seed = '';
      const v = await writeUsrToSlot({
        imagePath,
        partition: slots.A,
        usrPath,
        usrBytes: usr.bytes,
        superblockUuid: (rootHash) => {
          seed = o.seed ?? defaultSeed(plan, rootHash, kernelSha, initrdSha, sha256Buffer(stub), sha256Buffer(selector), sha256Buffer(Buffer.from(osRelease)), extra.join(' '), style, String(sde), o.rootTree ? 'root-tree' : '');
          return naming ? versionedSuperblockUuid(rootHash) : slotSuperblockUuid(seed, 'A', rootHash);
        },
        jobs: o.jobs,
        onProgress: o.onProgress,
      });
      // Everything ever written: the GPT copies, the ESP, and USR-A's data and hash area. The rest of
      // this freshly created sparse file is zero. The digest finds the data through FIEMAP (exact: the
      // ESP's unwritten clusters too); these ranges are its fallback.
      const sectorsBytes = (n: number) => n * plan.sectorSize;
      const written: ByteRange[] = [
        [0, sectorsBytes(plan.firstUsableLba)],
        [sectorsBytes(plan.lastUsableLba + 1), plan.diskBytes - sectorsBytes(plan.lastUsableLba + 1)],
        [esp.offsetBytes, esp.sizeBytes],
        [slots.A.offsetBytes, v.hashOffset + v.hashAreaSize],
        ...(rootPart ? [[rootPart.offsetBytes, rootPart.sizeBytes] as ByteRange] : []),
      ];
      // USR-A is final: its share of the image digest comes from its tree's leaf level, and the rest of
      // it (the hash area) is hashed while the ESP is made. Its bytes go to the disk meanwhile, so the
      // GPT's syncs (written last) wait for little.
      const digester = new ImageDigester(imagePath, { jobs: o.jobs, written });
      digester.slot(slots.A.offsetBytes, slots.A.sizeBytes, v);
      const flushing = flushFile(imagePath);
      flushing.catch(() => {}); // awaited below
      const table = planToTable(plan, seed);
      const partuuid = (n: number) => table.entries[n - 1].uuid;
      const hashOffset = slotHashOffset(slots.A.sizeBytes);
      const rootFs = rootPart ? await writeRootFsRecorded({ imagePath, partition: rootPart, partuuid: partuuid(rootPart.number), tree: o.rootTree!, seed, sourceDateEpoch: sde }) : undefined;
      const slotArgs = { slot: 'A' as const, partuuid: partuuid(slots.A.number), rootHash: v.rootHash, hashOffset, fsType: usr.fsType, rootPartuuid: rootFs?.partuuid, extra };
      let cmdline = formatCmdline(slotArgs);
      if (naming) {
        // the label and PARTUUID sysupdate would give this version; the UKI fits either slot
        const vb = versionedSlotBoot({ naming, version, ...slotArgs, file: usrPath });
        table.entries[slots.A.number - 1] = { ...table.entries[slots.A.number - 1], name: vb.label, uuid: vb.partuuid };
        cmdline = vb.cmdline;
      }
      const inputs = { kernel, initrd, stub, osRelease, arch };
      const flatcar = style === 'flatcar' ? flatcarFiles({ inputs, slotHashes: { A: v.rootHash }, cmdlineExtra: extra.join(' '), hashOffset }) : [];
      const espPlan = await signedPlan({ arch, selector, ukis: { A: slotUki(inputs, cmdline, o.kernel) }, ukiPaths, extra: flatcar }, key, sde);
      const ukiA = espPlan.ukis.A!;
      const files = espPlanFiles(espPlan);
      o.onProgress?.(0, 1, 'ESP');
      await makeEsp({ image: imagePath, offsetBytes: esp.offsetBytes, sizeBytes: esp.sizeBytes, volumeId: espVolumeId(seed), files, sourceDateEpoch: sde, rangeIsZero: true });
      o.onProgress?.(1, 1, 'ESP');
      await flushing;
      const disk = await FileStorage.open(imagePath, true);
      try {
        await writeGpt(disk, table, { protectiveMbr: true });
      } finally {
        await disk.close();
      }
      const slotA = slotManifestEntry({ number: slots.A.number, label: labelA, uuid: partuuid(slots.A.number) }, v, usr, { name: basename(o.from ?? o.fromDir!) }, version);
      const recorded = await recordImage(imagePath, { sectorSize: plan.sectorSize, roleOf: (n) => plan.partitions.find((q) => q.number === n)!.role });
      const manifest: ImageManifest = {
        manifestVersion: MANIFEST_VERSION,
        architecture: arch,
        tool: TOOL,
        format,
        layout: plan.name,
        seed,
        sourceDateEpoch: sde,
        disk: { guid: table.diskGuid, sectorSize: plan.sectorSize, totalSectors: plan.totalSectors, bytes: plan.diskBytes },
        ...recorded, // partitions, protective MBR, GPT headers and array, ESP files, reserved digests
        slots: { A: slotA },
        ...(rootFs ? { rootFs } : {}),
        boot: {
          style,
          selector: { path: selectorEspPath(arch), sha256: sha256Buffer(espPlan.selector) },
          slots: { A: { uki: ukiPaths?.A ?? ukiEspPath('A'), sha256: sha256Buffer(ukiA), cmdline, kernelSha256: kernelSha, initrdSha256: initrdSha, ...pcr11Entry(ukiA) } },
          signing: signingRecord(espPlan, key),
        },
        image: { name: basename(o.output), sha256: null, bytes: plan.diskBytes },
        // the build's declared time, not the clock: a rebuild writes the same manifest
        history: [{ action: 'build', slot: 'A', rootHash: v.rootHash, at: sde, clock: 'source-date-epoch' }],
        ...(o.buildConfig ? { buildConfig: o.buildConfig } : {}),
      };
      manifest.image.digest = digestRecord(await digester.finish());
      if (o.imageSha256) manifest.image.sha256 = await sha256File(imagePath, o.onProgress, written);
      return manifest;
    };

    if (format === 'raw') {
      // The image lands first, its manifest right after: a manifest never describes a missing image.
      // --force over an image: its lock is held until the new image and manifest are both in place.
      return await withLockIfExists(o.output, async () => {
        const manifest = await withAtomicOutput(o.output, !!o.force, buildRaw);
        await writeFileAtomic(manifestPath, encodeManifest(manifest));
        return { manifest, output: o.output, manifestPath };
      });
    }

    // qemu_uefi: a folder; the raw image is built in scratch space and converted.
    const name = basename(o.output);
    let bundleManifest = '';
    const manifest = await withAtomicOutput(o.output, !!o.force, async (tmpDir) => {
      await fsp.mkdir(tmpDir);
      const raw = join(scratch, `${name}.raw`);
      const m = await buildRaw(raw);
      o.onProgress?.(0, 1, 'qcow2');
      const p = await writeQemuBundle(raw, tmpDir, name, { arch, ovmfCode: o.ovmfCode, ovmfVars: o.ovmfVars, secureBoot: o.secureBoot ? { certDer: Buffer.from(key!.cert.raw), time: sde } : undefined });
      await rm(raw, { force: true });
      m.image = { name: `${name}.raw`, sha256: m.image.sha256, bytes: m.image.bytes, ...(m.image.digest ? { digest: m.image.digest } : {}), qcow2: { name: basename(p.qcow2), sha256: await sha256File(p.qcow2) } };
      await fsp.writeFile(p.manifest, encodeManifest(m));
      bundleManifest = join(o.output, basename(p.manifest));
      return m;
    });
    return { manifest, output: o.output, manifestPath: bundleManifest };
  } finally {
    await rm(scratch, { recursive: true, force: true });
    untrackScratch();
  }
}
