/**
 * The erofs superblock: 128 bytes (144 on recent kernels), little-endian, at byte 1024 (the kernel's
 * fs/erofs/erofs_fs.h, `struct erofs_super_block`). A pure decoder: the first bytes of an image and
 * its size in, a description out; it refuses what the kernel would refuse to mount, and an image cut
 * shorter than the block count its superblock records.
 */
import CRC32C from 'crc-32/crc32c.js';
import { CorruptError } from '../errors.js';

export const EROFS_MAGIC = 0xe0f5e1e2;
export const EROFS_SUPER_OFFSET = 1024;
/** The 128 bytes every version has; the 48-bit fields sit in the 16 after them. */
const SUPERBLOCK_SIZE = 128;
/** Bytes of the superblock read for the 48-bit layout's root nid. */
const SUPERBLOCK_SIZE_48BIT = 144;
/** Compact inodes are 32 bytes, and a nid counts in those units from the metadata area's start. */
const INODE_SLOT = 32;

const COMPAT_SB_CHKSUM = 0x1;
const INCOMPAT_48BIT = 0x80;
/** Every incompatible feature up to METABOX (0x100), the newest Linux knows; anything else it will not mount. */
const INCOMPAT_KNOWN = 0x1ff;
/** Bit 63 of a nid: the inode lives in the metabox inode, not at a fixed place in the metadata area. */
const NID_IN_METABOX = 1n << 63n;

export interface ErofsSuperblock {
  blockSize: number;
  blocks: number;
  /** blocks × blockSize: the filesystem's own length. */
  bytesUsed: number;
  inodeCount: number;
  rootNid: bigint;
  /** Seconds since the epoch from the superblock (erofs' build time). */
  buildTime: number;
  uuid: string;
  featureCompat: number;
  featureIncompat: number;
  /** Whether the superblock carries a crc32c (feature SB_CHKSUM); when it does, it was checked. */
  checksummed: boolean;
}

interface RawSuperblock {
  magic: number;
  checksum: number;
  featureCompat: number;
  blkszbits: number;
  extSlots: number;
  rootNidOrBlocksHi: number;
  inos: bigint;
  epoch: bigint;
  blocksLo: number;
  metaBlkaddr: number;
  uuid: Buffer;
  featureIncompat: number;
  extraDevices: number;
  buildTimeOffset: number;
  rootNid8b: bigint;
}

/** `sb` is the superblock alone (from byte 1024); the 48-bit fields read as zero if it is short. */
function readFields(sb: Buffer): RawSuperblock {
  const long = sb.length >= SUPERBLOCK_SIZE_48BIT;
  return {
    magic: sb.readUInt32LE(0), //                     0..4    magic 0xE0F5E1E2
    checksum: sb.readUInt32LE(4), //                  4..8    checksum: crc32c of the superblock's block
    featureCompat: sb.readUInt32LE(8), //             8..12   feature_compat
    blkszbits: sb.readUInt8(12), //                   12      blkszbits: log2(block size)
    extSlots: sb.readUInt8(13), //                    13      sb_extslots: superblock is 128 + 16 × this
    rootNidOrBlocksHi: sb.readUInt16LE(14), //        14..16  root_nid, or blocks' top bits when 48-bit
    inos: sb.readBigUInt64LE(16), //                  16..24  inos: inode count
    epoch: sb.readBigUInt64LE(24), //                 24..32  build_time (epoch on 48-bit kernels)
    //                                                32..36  build_time_nsec / fixed_nsec
    blocksLo: sb.readUInt32LE(36), //                 36..40  blocks (low 32 bits)
    metaBlkaddr: sb.readUInt32LE(40), //              40..44  meta_blkaddr: first block of the inode area
    //                                                44..48  xattr_blkaddr
    uuid: sb.subarray(48, 64), //                     48..64  uuid
    //                                                64..80  volume_name
    featureIncompat: sb.readUInt32LE(80), //          80..84  feature_incompat
    //                                                84..86  available_compr_algs / lz4_max_distance
    extraDevices: sb.readUInt16LE(86), //             86..88  extra_devices: blob devices besides this one
    //                                                88..108 devt_slotoff, dirblkbits, xattr prefixes, packed_nid...
    buildTimeOffset: long ? sb.readUInt32LE(108) : 0, // 108..112 build_time: seconds added to epoch (48-bit layout)
    rootNid8b: long ? sb.readBigUInt64LE(112) : 0n, // 112..120 rootnid_8b (48-bit layout)
  };
}

type Bad = (what: string) => CorruptError;

function blockSize(r: RawSuperblock, bad: Bad): number {
  // Linux mounts blocks from 512 bytes up to its page size; 64 KiB pages are the largest in use.
  if (r.blkszbits < 9 || r.blkszbits > 16) throw bad(`bad blkszbits ${r.blkszbits} (block size 512 B to 64 KiB)`);
  return 1 << r.blkszbits;
}

function checkFeatures(r: RawSuperblock, bad: Bad): void {
  const unknown = r.featureIncompat & ~INCOMPAT_KNOWN;
  if (unknown) throw bad(`unknown incompatible features 0x${unknown.toString(16)}`);
  // A slot holds one device; blobs on other devices would be missing at boot.
  if (r.extraDevices > 0) throw bad(`needs ${r.extraDevices} extra device(s); a /usr slot holds one`);
  if (r.inos === 0n) throw bad('inode count is 0 (there is not even a root directory)');
}

/** The kernel's check: crc32c (seed ~0, no final inversion) over the superblock's block from byte 1024, checksum zeroed. */
function checkChecksum(r: RawSuperblock, head: Uint8Array, size: number, bad: Bad): void {
  const len = size > EROFS_SUPER_OFFSET ? size - EROFS_SUPER_OFFSET : size;
  if (head.length < EROFS_SUPER_OFFSET + len) throw bad(`truncated: the superblock's block needs ${EROFS_SUPER_OFFSET + len} bytes, file has ${head.length}`);
  const block = Buffer.from(head.subarray(EROFS_SUPER_OFFSET, EROFS_SUPER_OFFSET + len));
  block.writeUInt32LE(0, 4);
  const crc = ~CRC32C.buf(block) >>> 0;
  if (crc !== r.checksum) throw bad(`superblock checksum 0x${r.checksum.toString(16)} does not match its contents (0x${crc.toString(16)})`);
}

function blockCount(r: RawSuperblock): bigint {
  const hi = r.featureIncompat & INCOMPAT_48BIT ? BigInt(r.rootNidOrBlocksHi) << 32n : 0n;
  return hi | BigInt(r.blocksLo);
}

function rootNid(r: RawSuperblock): bigint {
  return r.featureIncompat & INCOMPAT_48BIT ? r.rootNid8b : BigInt(r.rootNidOrBlocksHi);
}

function checkLength(blocks: bigint, size: number, fileSize: number, bad: Bad): void {
  if (blocks === 0n) throw bad('block count is 0');
  const bytes = blocks * BigInt(size);
  if (bytes > BigInt(fileSize)) throw bad(`truncated: superblock says ${bytes} bytes (${blocks} blocks of ${size}), file has ${fileSize}`);
}

/** The root directory's inode must lie inside the filesystem (unless it is kept in the metabox inode). */
function checkRootInode(r: RawSuperblock, nid: bigint, blocks: bigint, size: number, bad: Bad): void {
  if (nid & NID_IN_METABOX) return;
  const end = blocks * BigInt(size);
  const meta = BigInt(r.metaBlkaddr) * BigInt(size);
  if (meta >= end) throw bad(`metadata area starts at block ${r.metaBlkaddr}, beyond the last block ${blocks - 1n}`);
  const at = meta + nid * BigInt(INODE_SLOT);
  if (at + BigInt(INODE_SLOT) > end) throw bad(`root inode (nid ${nid}) at byte ${at} lies beyond the filesystem's end (${end})`);
}

function uuidString(b: Buffer): string {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * Decodes and validates the superblock in `head` (the image's first bytes: 1024 + one block covers
 * the checksum) against the image's full length `fileSize`. CorruptError, naming `file` when given,
 * says which field is wrong.
 */
export function decodeErofsSuperblock(head: Uint8Array, fileSize: number, file?: string): ErofsSuperblock {
  const bad: Bad = (what) => new CorruptError(`erofs: ${what}`, { file });
  const need = EROFS_SUPER_OFFSET + SUPERBLOCK_SIZE;
  if (head.length < need) throw bad(`truncated: only ${head.length} bytes, the superblock ends at ${need}`);
  const sbBytes = head.subarray(EROFS_SUPER_OFFSET, EROFS_SUPER_OFFSET + SUPERBLOCK_SIZE_48BIT);
  const r = readFields(Buffer.from(sbBytes.buffer, sbBytes.byteOffset, sbBytes.length));
  if (r.magic !== EROFS_MAGIC) throw bad(`bad magic 0x${r.magic.toString(16)} at byte 1024`);
  const size = blockSize(r, bad);
  const checksummed = (r.featureCompat & COMPAT_SB_CHKSUM) !== 0;
  if (checksummed) checkChecksum(r, head, size, bad);
  checkFeatures(r, bad);
  const blocks = blockCount(r);
  checkLength(blocks, size, fileSize, bad);
  const nid = rootNid(r);
  checkRootInode(r, nid, blocks, size, bad);
  return {
    blockSize: size,
    blocks: Number(blocks),
    bytesUsed: Number(blocks * BigInt(size)),
    inodeCount: Number(r.inos),
    rootNid: nid,
    buildTime: Number(r.epoch) + r.buildTimeOffset,
    uuid: uuidString(r.uuid),
    featureCompat: r.featureCompat,
    featureIncompat: r.featureIncompat,
    checksummed,
  };
}
