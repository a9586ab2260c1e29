/**
 * The manifest's schema. Version 2 records every region `verify` checks (protective MBR, both GPT
 * headers, the entry array, the ESP's files, each slot's verity parameters, reserved partitions, the
 * unallocated space). Version 1 (imgbuild 0.1's first manifests) is still read: parsed with its own
 * schema and upgraded in memory, with what it never recorded left absent, so `verify` can say what it
 * cannot check. Unknown keys are refused everywhere: a misspelt key must not be silently ignored.
 */
import { z } from 'zod';
import { ARCHITECTURES, DEFAULT_ARCHITECTURE, type Architecture } from '../arch.js';

// Each leaf carries a short description of what it expects; formatIssue prints it with the value found.
const want = (what: string) => ({ errorMap: () => ({ message: what }) });
const uint = z.number(want('a non-negative integer')).int('a non-negative integer').nonnegative('a non-negative integer');
const text = z.string(want('a string'));
const hex = z.string(want('a hex string')).regex(/^(?:[0-9a-f]{2})*$/, 'a hex string');
const sha256 = z.string(want('a sha256 (64 hex digits)')).regex(/^[0-9a-f]{64}$/, 'a sha256 (64 hex digits)');
const guid = z.string(want('a lowercase GUID')).regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, 'a lowercase GUID');
const attributes = z.string(want('a 16-hex-digit string 0x…')).regex(/^0x[0-9a-f]{16}$/, 'a 16-hex-digit string 0x…');
const slotName = z.enum(['A', 'B'], want('"A" or "B"'));
const format = z.enum(['raw', 'qemu_uefi'], want('"raw" or "qemu_uefi"'));

/**
 * Where a slot's /usr came from. Its identity is the slot's `rootHash` (slot trees have no salt, so
 * `veritysetup format --salt=- USR HASHFILE` recomputes it from the file); `sha256` is recorded only
 * by builds that predate that (their slot trees are salted).
 */
const source = z.object({ name: text, sha256: sha256.optional(), bytes: uint }).strict();
/**
 * The image's identity digest: the dm-verity root hash of the whole raw image (sha256, 4096/4096, no
 * salt, no superblock), which `veritysetup format --no-superblock --salt=- IMAGE HASHFILE` prints as
 * its root hash. Its cost follows the bytes written, not the disk's size (verify/image-digest.ts).
 * Absent in manifests written before it existed (still version 2: the field is additive).
 */
export const imageDigestSchema = z
  .object({
    algorithm: z.literal('dm-verity-sha256-4k-nosalt', want('"dm-verity-sha256-4k-nosalt"')),
    rootHash: sha256,
    /** 4096-byte blocks covered: the image's size in whole blocks, as veritysetup counts them. */
    dataBlocks: uint,
    /** How to recompute it with a standard tool. */
    recompute: text,
  })
  .strict();
/** Version 1's record of the image, as it was. */
const imageV1 = z
  .object({ name: text, sha256: z.union([sha256, z.literal('')]), bytes: uint, qcow2: z.object({ name: text, sha256 }).strict().optional() })
  .strict();
const image = z
  .object({
    name: text,
    /** The plain sha256 of the whole raw image: only with --image-sha256 (null without; '' in early manifests). */
    sha256: z.union([sha256, z.literal(''), z.null()]),
    bytes: uint,
    digest: imageDigestSchema.optional(),
    qcow2: z.object({ name: text, sha256 }).strict().optional(),
  })
  .strict();
/**
 * `at` is seconds since 1970; `clock` says whose: "source-date-epoch" (the build's SOURCE_DATE_EPOCH,
 * so a rebuild gives the same manifest; an update's when SOURCE_DATE_EPOCH is set) or "wall" (the time
 * an update ran). Absent in manifests written before it: those recorded SOURCE_DATE_EPOCH.
 */
const history = z.array(
  z
    .object({
      action: z.enum(['build', 'update'], want('"build" or "update"')),
      slot: slotName,
      rootHash: hex,
      at: uint,
      clock: z.enum(['source-date-epoch', 'wall'], want('"source-date-epoch" or "wall"')).optional(),
    })
    .strict(),
);
const bootStyle = z.enum(['uki', 'flatcar'], want('"uki" or "flatcar"'));
/** Version 1: one UKI at the removable-media path served both slots. */
const bootV1 = z.object({ style: bootStyle, espPath: text, cmdline: text, kernelSha256: sha256, initrdSha256: sha256, ukiSha256: sha256 }).strict();
/** Version 2: the slot selector at the removable-media path, and one UKI per filled slot. */
/**
 * PCR 11 as the UKI's stub leaves it, then after each boot phase systemd-pcrphase measures
 * (attest/pcr.ts); `stub` is the stub's release, whose rules the prediction followed. Absent in
 * manifests written before measured boot was predicted.
 */
export const pcr11Schema = z
  .object({ stub: text, uki: sha256, 'enter-initrd': sha256, 'leave-initrd': sha256, sysinit: sha256, ready: sha256 })
  .strict();
const slotBoot = z.object({ uki: text, sha256, cmdline: text, kernelSha256: sha256, initrdSha256: sha256, pcr11: pcr11Schema.optional() }).strict();
/**
 * Secure Boot signing: the certificate (sha256 of its DER) and each signed file's sha256 as signed.
 * null: built without a key (unsigned). Absent: a manifest from before signing existed.
 */
export const signingSchema = z
  .object({ certSha256: sha256, files: z.array(z.object({ path: text, sha256 }).strict()) })
  .strict();
export const bootSchema = z
  .object({
    style: bootStyle,
    selector: z.object({ path: text, sha256 }).strict(),
    slots: z.object({ A: slotBoot.optional(), B: slotBoot.optional() }).strict(),
    signing: signingSchema.nullable().optional(),
  })
  .strict();
const disk = z.object({ guid, sectorSize: uint, totalSectors: uint, bytes: uint }).strict();
/**
 * An update under way: written before its first write to the image, gone when the update's manifest
 * replaces it. Until then the slot and the ESP files it names hold bytes nobody vouches for.
 */
export const pendingSchema = z.object({ action: z.literal('update'), slot: slotName, espPaths: z.array(text) }).strict();
const common = { tool: text, format, layout: text, seed: text, sourceDateEpoch: uint, disk, image, history: history.optional(), pending: pendingSchema.optional() };

// --- version 1 ------------------------------------------------------------------------------------

const slotV1 = z
  .object({
    partition: uint, label: text, partuuid: guid, rootHash: hex, salt: hex, hashOffset: uint, hashAreaSize: uint,
    dataBlocks: uint, dataBytes: uint, fsType: text, source, version: text.optional(),
  })
  .strict();
const partitionV1 = z.object({ number: uint, label: text, type: guid, uuid: guid, startLba: uint, sizeBytes: uint, role: text }).strict();
export const manifestV1Schema = z
  .object({ manifestVersion: z.literal(1), ...common, image: imageV1, boot: bootV1, partitions: z.array(partitionV1), slots: z.object({ A: slotV1.optional(), B: slotV1.optional() }).strict() })
  .strict();
export type ImageManifestV1 = z.infer<typeof manifestV1Schema>;

// --- version 2 ------------------------------------------------------------------------------------

const verityHash = z.enum(['sha1', 'sha256', 'sha512'], want('"sha1", "sha256" or "sha512"'));
export const slotSchema = z
  .object({
    partition: uint,
    label: text,
    partuuid: guid,
    rootHash: hex,
    /** The verity superblock's fields, as written (verify compares each with the slot's superblock). */
    hash: verityHash,
    hashType: z.number(want('0 or 1')).refine((v): v is 0 | 1 => v === 0 || v === 1, '0 or 1') as z.ZodType<0 | 1>,
    dataBlockSize: uint,
    hashBlockSize: uint,
    /** null: none, as imgbuild writes slot trees (their root hash is then the /usr image's own). */
    salt: hex.nullable(),
    dataBlocks: uint,
    /** Absent only for a slot carried over from a version-1 manifest, which never recorded it. */
    superblockUuid: guid.optional(),
    /** Bytes from the partition start to the verity superblock (same for both slots). */
    hashOffset: uint,
    hashAreaSize: uint,
    dataBytes: uint,
    fsType: text,
    source,
    version: text.optional(),
  })
  .strict();

export const partitionSchema = z
  .object({ number: uint, uuid: guid, label: text, type: guid, firstLba: uint, lastLba: uint, attributes, role: text })
  .strict();

export const gptHeaderSchema = z
  .object({
    revision: uint, headerSize: uint, myLba: uint, alternateLba: uint, firstUsableLba: uint, lastUsableLba: uint,
    diskGuid: guid, entriesLba: uint, entryCount: uint, entrySize: uint,
  })
  .strict();

export const gptSchema = z
  .object({
    primary: gptHeaderSchema,
    backup: gptHeaderSchema,
    /** sha256 of the whole entry array (unused entries too) with the USR slots' boot bits zeroed. */
    entryArraySha256: sha256,
  })
  .strict();

const digest = z.object({ sha256, bytes: uint }).strict();
export const espFileSchema = z.object({ path: text, sha256, bytes: uint }).strict();
export const espSchema = z
  .object({
    partition: uint,
    /** The FAT's reserved sectors (boot sector, its backup, boot code), FSInfo aside: see verify/fat.ts. */
    bootArea: digest,
    files: z.array(espFileSchema),
  })
  .strict();
export const reservedSchema = z.object({ number: uint, label: text, sha256, bytes: uint }).strict();

/** The regions recorded at build/update time; a version-1 manifest has none of them. */
export const recordedSchema = z
  .object({
    /** LBA 0, the whole sector. */
    protectiveMbr: digest,
    gpt: gptSchema,
    esp: espSchema,
    /** Partitions that are neither ESP, USR slot, nor meant to be written at run time. */
    reserved: z.array(reservedSchema),
    /** Every byte outside LBA 0, the GPT copies and the partitions, concatenated in disk order. */
    unallocated: digest,
  })
  .strict();

const v2Base = z
  .object({
    manifestVersion: z.literal(2),
    /** The machine the image boots on. Absent in manifests written before arm64 images: x86-64. */
    architecture: z.enum(ARCHITECTURES, want(ARCHITECTURES.map((a) => `"${a}"`).join(' or '))).optional(),
    ...common,
    boot: bootSchema,
    partitions: z.array(partitionSchema),
    slots: z.object({ A: slotSchema.optional(), B: slotSchema.optional() }).strict(),
    /** The writable ROOT as `build --root-tree` made it: what it started as; verify does not cover it (it changes at every boot). */
    rootFs: z.object({ number: uint, partuuid: guid, fsType: z.literal('ext4'), fsUuid: guid, tree: text, sha256, bytes: uint }).strict().optional(),
  })
  .strict();
export const manifestV2Schema = v2Base.merge(recordedSchema).strict();

export type SlotManifest = z.infer<typeof slotSchema>;
export type PartitionRecord = z.infer<typeof partitionSchema>;
export type GptHeaderRecord = z.infer<typeof gptHeaderSchema>;
export type GptRecord = z.infer<typeof gptSchema>;
export type EspRecord = z.infer<typeof espSchema>;
export type EspFileRecord = z.infer<typeof espFileSchema>;
export type ReservedRecord = z.infer<typeof reservedSchema>;
export type RecordedRegions = z.infer<typeof recordedSchema>;
/** What a version-2 manifest file holds. */
export type ImageManifestV2 = z.infer<typeof manifestV2Schema>;
/**
 * The manifest in memory: version 2's shape, where a manifest upgraded from version 1 lacks the
 * recorded regions (`upgradedFrom: 1`) and its partitions lack attributes.
 */
export type ImageManifest = Omit<z.infer<typeof v2Base>, 'partitions' | 'boot'> &
  Partial<RecordedRegions> & {
    partitions: Array<Omit<PartitionRecord, 'attributes'> & { attributes?: string }>;
    /** Version 1's single shared UKI survives the upgrade as it was recorded. */
    boot: BootManifest | LegacyBootManifest;
    upgradedFrom?: 1;
  };

export type BootManifest = z.infer<typeof bootSchema>;

/** The image's architecture (x86-64 for a manifest that predates the field). */
export function manifestArchitecture(m: { architecture?: Architecture }): Architecture {
  return m.architecture ?? DEFAULT_ARCHITECTURE;
}
export type ImageDigestManifest = z.infer<typeof imageDigestSchema>;
export type SigningManifest = z.infer<typeof signingSchema>;
export type SlotBootManifest = NonNullable<BootManifest['slots']['A']>;
export type LegacyBootManifest = z.infer<typeof bootV1>;

/** A manifest of an image built before the slot selector: one UKI for both slots. */
export function isLegacyBoot(b: BootManifest | LegacyBootManifest): b is LegacyBootManifest {
  return 'espPath' in b;
}
