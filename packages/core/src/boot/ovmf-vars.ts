/**
 * OVMF's variable store file (the `_VARS_4M.fd` pflash image), encoded and decoded. Pure: bytes in,
 * bytes out; no file access. Layout of the 4 MiB build (540672 bytes), as edk2 writes it:
 *
 *   0x00000  EFI_FIRMWARE_VOLUME_HEADER (72 bytes, FileSystemGuid = EFI_SYSTEM_NV_DATA_FV_GUID)
 *   0x00048  VARIABLE_STORE_HEADER (28 bytes, Signature = gEfiAuthenticatedVariableGuid)
 *   0x00064  AUTHENTICATED_VARIABLE_HEADERs, each followed by its UTF-16 name and data, 4-aligned,
 *            padding and free space 0xff (erased flash)
 *   0x40000  one erased block (0xff)
 *   0x41000  EFI_FAULT_TOLERANT_WORKING_BLOCK_HEADER (32 bytes), the rest of the block 0xff
 *   0x42000  FTW spare area, erased, to the end
 *
 * References: edk2 MdePkg/Include/Pi/PiFirmwareVolume.h, MdeModulePkg/Include/Guid/VariableFormat.h,
 * SystemNvDataGuid.h, Guid/ImageAuthentication.h (EFI_SIGNATURE_LIST), OvmfPkg's VarStore.fdf.inc.
 */
import { crc32 } from '../gpt/header.js';
import { decodeGuid, encodeGuid } from '../guid.js';

/** EFI_SYSTEM_NV_DATA_FV_GUID: the firmware volume that holds the variable store. */
export const NV_DATA_FV_GUID = 'fff12b8d-7696-4c8b-a985-2747075b4f50';
/** gEfiAuthenticatedVariableGuid: a store whose variables carry the authenticated header. */
export const AUTH_VARIABLE_STORE_GUID = 'aaf32c78-947b-439a-a180-2e144ec37792';
/** gEdkiiWorkingBlockSignatureGuid: the fault-tolerant-write working block. */
export const FTW_WORKING_BLOCK_GUID = '9e58292b-7c68-497d-a0ce-6500fd9f1b95';

/** EFI_GLOBAL_VARIABLE: PK, KEK, SecureBoot, SetupMode, Boot####, … */
export const EFI_GLOBAL_VARIABLE = '8be4df61-93ca-11d2-aa0d-00e098032b8c';
/** EFI_IMAGE_SECURITY_DATABASE_GUID: db, dbx. */
export const EFI_IMAGE_SECURITY_DATABASE = 'd719b2cb-3d3a-4596-a3bc-dad00e67656f';
/** EFI_SECURE_BOOT_ENABLE_DISABLE (OVMF): `SecureBootEnable`, the switch OVMF's AuthVariableLib reads. */
export const SECURE_BOOT_ENABLE_GUID = 'f0a30bc7-af08-4556-99c4-001009c93a44';
/** EFI_CUSTOM_MODE_ENABLE_GUID: `CustomMode` (0 = standard mode: keys change only through signed updates). */
export const CUSTOM_MODE_GUID = 'c076ec0c-7028-4399-a072-71ee5c448b9f';
/** EFI_VENDOR_KEYS_NV_GUID: `VendorKeysNv` (0 = the keys are not the platform vendor's defaults). */
export const VENDOR_KEYS_NV_GUID = '9073e4e0-60ec-4b6e-9903-4c223c260f3c';
/** gEfiCertDbGuid: `certdb`, AuthVariableLib's bookkeeping for variables signed with a cert. */
export const CERT_DB_GUID = 'd9bee56e-75dc-49d9-b4d7-b534210f637a';

/** EFI_CERT_X509_GUID: a signature list whose entries are DER certificates. */
export const EFI_CERT_X509 = 'a5c059a1-94e4-4aa7-87b5-ab155c2bf072';
/** EFI_CERT_SHA256_GUID: a signature list whose entries are 32-byte image hashes. */
export const EFI_CERT_SHA256 = 'c1c41626-504c-4092-aca9-41f936934328';

// Variable attributes (UEFI spec 8.2).
export const EFI_VARIABLE_NON_VOLATILE = 0x01;
export const EFI_VARIABLE_BOOTSERVICE_ACCESS = 0x02;
export const EFI_VARIABLE_RUNTIME_ACCESS = 0x04;
export const EFI_VARIABLE_TIME_BASED_AUTHENTICATED_WRITE_ACCESS = 0x20;
/** PK, KEK, db, dbx: NV + BS + RT + time-based authenticated writes (0x27). */
export const SECURE_BOOT_KEY_ATTRIBUTES =
  EFI_VARIABLE_NON_VOLATILE | EFI_VARIABLE_BOOTSERVICE_ACCESS | EFI_VARIABLE_RUNTIME_ACCESS | EFI_VARIABLE_TIME_BASED_AUTHENTICATED_WRITE_ACCESS;

/** Variable states (VariableFormat.h): flash bits are only ever cleared, so states go down. */
export const VAR_ADDED = 0x3f;
export const VAR_DELETED_STATES = [0x3c, 0x3d] as const; // ADDED & ~DELETED (& ~IN_DELETED_TRANSITION)

/** Where a firmware build keeps its variable store, FTW areas and padding in the vars file. */
export interface VarStoreGeometry {
  fileBytes: number;
  /** FvLength; the file may be longer, the rest zero (AAVMF pads its pflash image to 64 MiB). Default fileBytes. */
  fvBytes?: number;
  blockSize: number;
  /** BlockMap[0].NumBlocks as the build writes it. Default fileBytes / blockSize. */
  numBlocks?: number;
  varStoreRegion: number;
  ftwWorkingOffset: number;
  ftwWorkingBytes: number;
  fvAttributes: number;
}

/** The 4 MiB OVMF build's geometry (OvmfPkg/VarStore.fdf.inc with FD_SIZE_4MB). */
export const OVMF_VARS_4M = {
  fileBytes: 0x84000,
  blockSize: 0x1000,
  /** Bytes from the file start to the end of the variable store (FV header + store). */
  varStoreRegion: 0x40000,
  ftwWorkingOffset: 0x41000,
  ftwWorkingBytes: 0x1000,
  /** FV attributes OVMF's build writes (EFI_FVB2_* read/write/lock caps and status, alignment 16). */
  fvAttributes: 0x0004feff,
} as const;

/**
 * AAVMF's (ArmVirtQemu, Debian's qemu-efi-aarch64): a 64 MiB pflash image of which the first 768 KiB
 * are the firmware volume (store, FTW working block, FTW spare, 256 KiB each), the rest zero. Read
 * from Debian's AAVMF_VARS.snakeoil.fd (its BlockMap says 256 blocks of 256 KiB; kept as written).
 */
export const AAVMF_VARS: VarStoreGeometry = {
  fileBytes: 0x4000000,
  fvBytes: 0xc0000,
  blockSize: 0x40000,
  numBlocks: 256,
  varStoreRegion: 0x40000,
  ftwWorkingOffset: 0x40000,
  ftwWorkingBytes: 0x40000,
  fvAttributes: 0x00000e36,
};

/** The vars file layouts the architecture table names (`firmware.varStore`). */
export const VAR_STORE_GEOMETRIES: Readonly<Record<'ovmf-4m' | 'aavmf', VarStoreGeometry>> = { 'ovmf-4m': OVMF_VARS_4M, aavmf: AAVMF_VARS };

const FV_HEADER_BYTES = 72; // 56-byte header + BlockMap {n, len} + {0, 0} terminator
const STORE_HEADER_BYTES = 28;
const VAR_HEADER_BYTES = 60; // AUTHENTICATED_VARIABLE_HEADER
const VARIABLE_DATA = 0x55aa; // StartId
const FTW_HEADER_BYTES = 32;

/** EFI_TIME (16 bytes) as the authenticated header stores it; all zero for non-time-based variables. */
export interface EfiTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  nanosecond: number;
  /** Minutes from UTC, 0x7ff = unspecified. */
  timeZone: number;
  daylight: number;
}

export interface UefiVariable {
  name: string;
  guid: string;
  attributes: number;
  data: Buffer;
  /** VAR_ADDED for a live variable; deleted copies stay in the store until it is reclaimed. */
  state?: number;
  monotonicCount?: bigint;
  /** null: 16 zero bytes (only time-based authenticated variables carry a time). */
  timestamp?: EfiTime | null;
  pubKeyIndex?: number;
}

export interface VarStore {
  variables: UefiVariable[];
}

// --- EFI_TIME ---------------------------------------------------------------------------------

export function efiTimeFromEpoch(seconds: number): EfiTime {
  const d = new Date(seconds * 1000);
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), hour: d.getUTCHours(), minute: d.getUTCMinutes(), second: d.getUTCSeconds(), nanosecond: 0, timeZone: 0, daylight: 0 };
}

function encodeEfiTime(t: EfiTime | null | undefined): Buffer {
  const b = Buffer.alloc(16);
  if (!t) return b;
  b.writeUInt16LE(t.year, 0); // Year 1900-9999
  b[2] = t.month; // Month 1-12
  b[3] = t.day; // Day 1-31
  b[4] = t.hour;
  b[5] = t.minute;
  b[6] = t.second;
  // 7: Pad1
  b.writeUInt32LE(t.nanosecond, 8);
  b.writeInt16LE(t.timeZone, 12);
  b[14] = t.daylight;
  // 15: Pad2
  return b;
}

function decodeEfiTime(b: Buffer): EfiTime | null {
  if (b.every((x) => x === 0)) return null;
  return { year: b.readUInt16LE(0), month: b[2], day: b[3], hour: b[4], minute: b[5], second: b[6], nanosecond: b.readUInt32LE(8), timeZone: b.readInt16LE(12), daylight: b[14] };
}

// --- EFI_SIGNATURE_LIST -------------------------------------------------------------------------

export interface SignatureEntry {
  /** Who added the entry (informational for the firmware). */
  owner: string;
  /** A DER certificate (X509 lists) or a 32-byte hash (SHA256 lists). */
  data: Buffer;
}

/** One EFI_SIGNATURE_LIST; all entries must have the same size (one list per certificate, else). */
export function encodeSignatureList(type: string, entries: readonly SignatureEntry[]): Buffer {
  if (entries.length === 0) throw new Error('a signature list needs at least one entry');
  const sigSize = 16 + entries[0].data.length;
  if (entries.some((e) => 16 + e.data.length !== sigSize)) throw new Error('entries of one signature list must have one size');
  const h = Buffer.alloc(28);
  encodeGuid(type).copy(h, 0); // SignatureType
  h.writeUInt32LE(28 + sigSize * entries.length, 16); // SignatureListSize, header included
  h.writeUInt32LE(0, 20); // SignatureHeaderSize: no type-specific header for X509/SHA256
  h.writeUInt32LE(sigSize, 24); // SignatureSize: owner GUID + data
  return Buffer.concat([h, ...entries.flatMap((e) => [encodeGuid(e.owner), e.data])]);
}

/** A variable's data as a sequence of signature lists (PK, KEK, db, dbx). */
export function decodeSignatureLists(data: Buffer): Array<{ type: string; entries: SignatureEntry[] }> {
  const out: Array<{ type: string; entries: SignatureEntry[] }> = [];
  let o = 0;
  while (o < data.length) {
    if (data.length - o < 28) throw new Error(`signature list at ${o}: truncated header`);
    const type = decodeGuid(data, o);
    const listSize = data.readUInt32LE(o + 16);
    const headerSize = data.readUInt32LE(o + 20);
    const sigSize = data.readUInt32LE(o + 24);
    if (listSize < 28 + headerSize || o + listSize > data.length || sigSize < 16 || (listSize - 28 - headerSize) % sigSize !== 0) {
      throw new Error(`signature list at ${o}: inconsistent sizes (list ${listSize}, header ${headerSize}, signature ${sigSize})`);
    }
    const entries: SignatureEntry[] = [];
    for (let e = o + 28 + headerSize; e < o + listSize; e += sigSize) entries.push({ owner: decodeGuid(data, e), data: Buffer.from(data.subarray(e + 16, e + sigSize)) });
    out.push({ type, entries });
    o += listSize;
  }
  return out;
}

// --- the file ------------------------------------------------------------------------------------

const align4 = (n: number) => (n + 3) & ~3;

function utf16z(s: string): Buffer {
  return Buffer.from(s + '\0', 'utf16le');
}

function encodeFvHeader(g: VarStoreGeometry): Buffer {
  const h = Buffer.alloc(FV_HEADER_BYTES);
  // 0x00: ZeroVector[16], zero
  encodeGuid(NV_DATA_FV_GUID).copy(h, 0x10); // FileSystemGuid
  h.writeBigUInt64LE(BigInt(g.fvBytes ?? g.fileBytes), 0x20); // FvLength: the volume, FTW areas included
  h.write('_FVH', 0x28, 'latin1'); // Signature
  h.writeUInt32LE(g.fvAttributes, 0x2c); // Attributes
  h.writeUInt16LE(FV_HEADER_BYTES, 0x30); // HeaderLength
  // 0x32: Checksum, below; 0x34: ExtHeaderOffset 0 (none); 0x36: Reserved
  h[0x37] = 2; // Revision: EFI_FVH_REVISION
  h.writeUInt32LE(g.numBlocks ?? g.fileBytes / g.blockSize, 0x38); // BlockMap[0].NumBlocks
  h.writeUInt32LE(g.blockSize, 0x3c); // BlockMap[0].Length
  // 0x40: BlockMap terminator {0, 0}
  let sum = 0;
  for (let i = 0; i < FV_HEADER_BYTES; i += 2) sum = (sum + h.readUInt16LE(i)) & 0xffff;
  h.writeUInt16LE((0x10000 - sum) & 0xffff, 0x32); // the 16-bit words of the header sum to zero
  return h;
}

function encodeStoreHeader(size: number): Buffer {
  const h = Buffer.alloc(STORE_HEADER_BYTES);
  encodeGuid(AUTH_VARIABLE_STORE_GUID).copy(h, 0); // Signature: variables carry the authenticated header
  h.writeUInt32LE(size, 16); // Size: store header + variable area
  h[20] = 0x5a; // Format: VARIABLE_STORE_FORMATTED
  h[21] = 0xfe; // State: VARIABLE_STORE_HEALTHY
  // 22: Reserved (u16), 24: Reserved1 (u32), zero
  return h;
}

function encodeVariable(v: UefiVariable): Buffer {
  const name = utf16z(v.name);
  const h = Buffer.alloc(VAR_HEADER_BYTES);
  h.writeUInt16LE(VARIABLE_DATA, 0); // StartId
  h[2] = v.state ?? VAR_ADDED; // State
  // 3: Reserved
  h.writeUInt32LE(v.attributes, 4); // Attributes
  h.writeBigUInt64LE(v.monotonicCount ?? 0n, 8); // MonotonicCount (count-based authenticated variables)
  encodeEfiTime(v.timestamp).copy(h, 16); // TimeStamp (time-based authenticated variables)
  h.writeUInt32LE(v.pubKeyIndex ?? 0, 32); // PubKeyIndex
  h.writeUInt32LE(name.length, 36); // NameSize, in bytes, NUL included
  h.writeUInt32LE(v.data.length, 40); // DataSize
  encodeGuid(v.guid).copy(h, 44); // VendorGuid
  const body = Buffer.concat([h, name, v.data]);
  return Buffer.concat([body, Buffer.alloc(align4(body.length) - body.length, 0xff)]); // padding is erased flash
}

function encodeFtwWorkingHeader(g: VarStoreGeometry): Buffer {
  const h = Buffer.alloc(FTW_HEADER_BYTES, 0xff);
  encodeGuid(FTW_WORKING_BLOCK_GUID).copy(h, 0); // Signature
  // 16: Crc, over the header with Crc and the state byte still erased (edk2's InitWorkSpaceHeader)
  // 20: WorkingBlockValid/Invalid bits + reserved bytes: 0xff (erased)
  h.writeBigUInt64LE(BigInt(g.ftwWorkingBytes - FTW_HEADER_BYTES), 24); // WriteQueueSize
  h.writeUInt32LE(crc32(h), 16);
  h[20] = 0xfe; // WorkingBlockValid: bit 0 cleared = valid
  return h;
}

/** The whole vars file: exactly what OVMF's pflash expects, free space erased. */
export function encodeVarStore(store: VarStore, g: VarStoreGeometry = OVMF_VARS_4M): Buffer {
  const out = Buffer.alloc(g.fileBytes, 0);
  out.fill(0xff, 0, g.fvBytes ?? g.fileBytes); // the volume is erased flash; padding after it is zero
  encodeFvHeader(g).copy(out, 0);
  encodeStoreHeader(g.varStoreRegion - FV_HEADER_BYTES).copy(out, FV_HEADER_BYTES);
  let o = align4(FV_HEADER_BYTES + STORE_HEADER_BYTES);
  for (const v of store.variables) {
    const b = encodeVariable(v);
    if (o + b.length > g.varStoreRegion) throw new Error(`the variables do not fit the ${g.varStoreRegion}-byte store`);
    b.copy(out, o);
    o += b.length;
  }
  encodeFtwWorkingHeader(g).copy(out, g.ftwWorkingOffset);
  return out;
}

/** Every variable of the store, deleted copies included, in store order. Throws on a malformed file. */
export function decodeVarStore(buf: Buffer): VarStore {
  if (buf.length < FV_HEADER_BYTES + STORE_HEADER_BYTES) throw new Error('too small for an OVMF variable store');
  if (buf.toString('latin1', 0x28, 0x2c) !== '_FVH') throw new Error('no firmware volume signature (_FVH) at 0x28');
  if (decodeGuid(buf, 0x10) !== NV_DATA_FV_GUID) throw new Error(`firmware volume is not NV data (${decodeGuid(buf, 0x10)})`);
  const hdrLen = buf.readUInt16LE(0x30);
  const storeGuid = decodeGuid(buf, hdrLen);
  if (storeGuid !== AUTH_VARIABLE_STORE_GUID) throw new Error(`variable store is not authenticated (${storeGuid})`);
  const storeEnd = Math.min(buf.length, hdrLen + buf.readUInt32LE(hdrLen + 16));
  const variables: UefiVariable[] = [];
  let o = align4(hdrLen + STORE_HEADER_BYTES);
  while (o + VAR_HEADER_BYTES <= storeEnd && buf.readUInt16LE(o) === VARIABLE_DATA) {
    const nameSize = buf.readUInt32LE(o + 36);
    const dataSize = buf.readUInt32LE(o + 40);
    const nameAt = o + VAR_HEADER_BYTES;
    if (nameAt + nameSize + dataSize > storeEnd) throw new Error(`variable at 0x${o.toString(16)} runs past the store`);
    variables.push({
      name: buf.toString('utf16le', nameAt, nameAt + nameSize).replace(/\0+$/, ''),
      guid: decodeGuid(buf, o + 44),
      attributes: buf.readUInt32LE(o + 4),
      data: Buffer.from(buf.subarray(nameAt + nameSize, nameAt + nameSize + dataSize)),
      state: buf[o + 2],
      monotonicCount: buf.readBigUInt64LE(o + 8),
      timestamp: decodeEfiTime(buf.subarray(o + 16, o + 32)),
      pubKeyIndex: buf.readUInt32LE(o + 32),
    });
    o = align4(nameAt + nameSize + dataSize);
  }
  return { variables };
}

/** The live copy of a variable (a store may hold deleted copies of it too). */
export function findVariable(store: VarStore, name: string, guid: string): UefiVariable | undefined {
  return store.variables.find((v) => v.name === name && v.guid === guid && (v.state ?? VAR_ADDED) === VAR_ADDED);
}
