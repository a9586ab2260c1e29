/**
 * `@imgbuild/core`: build, read, update and verify A/B disk images for immutable operating systems.
 *
 * The root entry holds the verbs a program needs and their types; the named subpaths hold the layers
 * below, for programs that work on a GPT or a verity tree themselves (`@imgbuild/core/gpt`,
 * `@imgbuild/core/verity`), and light entries that load little
 * (`@imgbuild/core/errors`, `@imgbuild/core/arch`, `@imgbuild/core/layouts`).
 *
 * @example
 * ```ts
 * import { buildImage, readSlotStatus, updateImage, verifyImage } from '@imgbuild/core';
 *
 * await buildImage({ from: 'usr.squashfs', kernel: 'vmlinuz', initrd: 'initrd.img', output: 'disk.raw' });
 * console.log((await readSlotStatus('disk.raw')).status.next); // 'A'
 * await updateImage({ image: 'disk.raw', from: 'usr-v2.squashfs' });
 * console.log((await verifyImage({ image: 'disk.raw' })).ok); // true
 * ```
 *
 * @packageDocumentation
 * @module @imgbuild/core
 */

// Errors: what a program catches
export {
  ImgbuildError,
  UsageError,
  LayoutError,
  InputError,
  CorruptError,
  SlotError,
  VerityMismatchError,
  ImageBusyError,
  ToolError,
  type ErrorKind,
} from './errors.js';
export { errnoWords, errnoFree, fsError, aboutFile, withFile } from './errors.js';

// Build
export { buildImage, planBuild, type BuildOptions, type BuildResult, type ImageFormat } from './image/build.js';
export type { BuildPlan } from './image/build-plan.js';
export type { BootStyle } from './boot/inputs.js';

// The build file (imgbuild.json): one image described completely
export { loadBuildConfig, BUILD_FILE_NAME, type LoadedBuildConfig } from './config/load.js';
export { parseBuildConfig, parseBuildConfigText } from './config/parse.js';
export { resolveBuildConfig } from './config/resolve.js';
export { buildFromConfig, type ConfigBuildOptions } from './config/build.js';
export type { BuildConfig, ResolvedBuildConfig } from './config/schema.js';

// Update
export { updateImage, type UpdateOptions, type UpdatePlan, type UpdateResult } from './image/update.js';

// Verify
export { verifyImage, type VerifyImageResult, type VerifyOptions } from './verify/image.js';
export { formatCheck, type ImageCheck, type CheckStatus, type CheckValue } from './verify/index.js';

// The manifest: the record of what was built
export {
  readManifest,
  manifestPathFor,
  isLegacyBoot,
  type ImageManifest,
  type BootManifest,
  type LegacyBootManifest,
  type SlotManifest,
  type SlotBootManifest,
  type SigningManifest,
} from './manifest/manifest.js';

// Layouts
export { loadLayout } from './layout/load.js';
export { planLayout, type LayoutPlan, type PlannedPartition, type Slot } from './layout/plan.js';
export { planRecord } from './layout/record.js';
export { BUILTIN_LAYOUTS, BUILTIN_LAYOUT_NAMES } from './layout/builtin.js';
export { formatBytes, parseBytes, type LayoutSpec, type PartitionSpec, type Role, type SizeSpec } from './layout/spec.js';

// Slots: the boot state in the GPT and its transitions (the one list is the `slots` entry point's)
export * from './public/slots.js';
export { roleInTable } from './slot/state.js';

// The GPT, as far as the verbs above need it (the codec is @imgbuild/core/gpt)
export { readGpt, writeGpt, repairGpt, type GptReadResult, type GptSource, type RepairResult, type WriteGptOptions } from './gpt/io.js';
export { partitions, type GptTable, type Partition } from './gpt/table.js';
export type { GptEntry } from './gpt/entry.js';
export type { GptHeader } from './gpt/header.js';
export { describeAttributes, type BootBits } from './gpt/attributes.js';
export { partitionRecord, gptReadRecord, type PartitionRecord, type GptReadRecord } from './gpt/record.js';
export { typeName } from './gpt/types.js';
export { createGptImage } from './layout/gpt-image.js';

// The verity engine
export { formatVerity, type FormatVerityOptions, type FormatVerityResult } from './verity/format.js';
export { verifyVerity, readVeritySuperblock, type VerifyVerityOptions, type VerifyVerityResult } from './verity/verify.js';
export { DEFAULT_VERITY_PARAMS, type VerityParams, type VerityHash } from './verity/geometry.js';
export type { VerityFailure, VerityRegion } from './verity/tree.js';

// System extensions
export { buildSysext, buildConfext, type BuildSysextOptions, type BuildSysextResult, type SysextFormat } from './sysext/build.js';
export { extensionTarget, type ExtensionKind, type ExtensionTarget } from './sysext/kind.js';
export type { SysextFs } from './sysext/pack.js';
export type { SysextArch } from './sysext/naming.js';
export type { DdiPartition } from './sysext/ddi.js';
export type { TransferSource } from './sysext/transfer.js';

// Signing
export { signImage, type SignImageResult } from './signing/sign-image.js';
export { readCertificate, signingFilesFromFlags, type SigningKeyFiles } from './boot/sign.js';

// qemu
export { runQemu, resolveBootTarget, type RunQemuOptions, type QemuRunResult, type BootTarget } from './qemu/run.js';
export { formatBootMarker, formatBootFailure, type BootMarker, type BootFailure, type BootHealth } from './qemu/marker.js';
export type { SelectorLog, SelectorChoice } from './qemu/selector-log.js';
export type { MachineReset } from './qemu/watchdog.js';
export { parseCredentials, type Credential } from './qemu/provision.js';
export { findBundle, withRawImage, type BundlePaths } from './qemu/bundle.js';

// Publishing an update feed for nodes that update themselves (systemd-sysupdate)
export { publishVersion, type PublishOptions, type PublishResult } from './feed/publish.js';
export { sysupdateTransfers, type NodeFile } from './feed/transfers.js';
export type { GpgSigner } from './feed/gpg.js';

// Attest
export { attestReport, type AttestInput, type AttestVerdict, type AttestCheck, type AttestIdentity } from './attest/attest.js';
export { parseAttestReport, type AttestReport } from './attest/report.js';
export { predictPcr11, BOOT_PHASES, type Pcr11Prediction, type BootPhase, type PcrEvent, type StubRelease } from './attest/pcr.js';
export type { MeasuredEvent } from './attest/eventlog.js';

// The disk picture
export { diskPicture, type DiskPicture, type DiskPart, type SlotMark } from './picture/disk.js';
export { diskBar } from './picture/bar.js';
export { diskSvg } from './picture/svg.js';

// Files, storage, locks, progress
export { FileStorage, MemoryStorage, SubStorage, type Storage } from './storage.js';
export { withImageLock, type ImageLockOptions } from './lock.js';
export { withAtomicOutput, writeFileAtomic, assertWritableTarget } from './atomic.js';
export type { ProgressFn } from './progress.js';
export { ARCHITECTURE_NAMES, parseArchitecture, type Architecture } from './arch.js';
export { VERSION } from './version.js';
