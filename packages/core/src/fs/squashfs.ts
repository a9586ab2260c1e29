/**
 * The squashfs 4.0 superblock: 96 bytes, little-endian, at offset 0 (the kernel's
 * fs/squashfs/squashfs_fs.h, `struct squashfs_super_block`). A pure decoder: the first bytes of an
 * image and its size in, a description out. It checks what the kernel checks at mount time, plus
 * that every byte the superblock promises is present, so a cut or corrupt image is refused before it
 * is copied into a slot and sealed by a verity tree that would then "verify" it.
 */
import { CorruptError } from '../errors.js';

export const SQUASHFS_MAGIC = 'hsqs';
export const SQUASHFS_SUPERBLOCK_SIZE = 96;

/** A table start of all ones: the table is absent. */
const ABSENT = 0xffffffffffffffffn;
/** Inode, directory and index tables are made of metadata blocks of at most 8 KiB (uncompressed). */
const METADATA_SIZE = 8192;

const COMPRESSORS = { 1: 'gzip', 2: 'lzma', 3: 'lzo', 4: 'xz', 5: 'lz4', 6: 'zstd' } as const;
export type SquashfsCompression = (typeof COMPRESSORS)[keyof typeof COMPRESSORS];

export interface SquashfsSuperblock {
  /** The filesystem's own length; the file may be longer (mksquashfs pads to 4 KiB). */
  bytesUsed: number;
  blockSize: number;
  compression: SquashfsCompression;
  inodeCount: number;
  fragmentCount: number;
  idCount: number;
  /** Seconds since the epoch, as given to mksquashfs (-mkfs-time). */
  mkfsTime: number;
  flags: number;
  /** Where the root directory's inode is: a metadata block (relative to the inode table) and an offset in it. */
  rootInode: { block: number; offset: number };
  /** Byte offsets of the tables; absent optional tables are left out. */
  tables: { inode: number; directory: number; fragment?: number; lookup?: number; id: number; xattr?: number };
}

/** The fields as stored; 64-bit positions stay bigint until they are known to lie inside the file. */
interface RawSuperblock {
  magic: string;
  inodes: number;
  mkfsTime: number;
  blockSize: number;
  fragments: number;
  compression: number;
  blockLog: number;
  flags: number;
  ids: number;
  major: number;
  minor: number;
  rootInode: bigint;
  bytesUsed: bigint;
  idTable: bigint;
  xattrTable: bigint;
  inodeTable: bigint;
  directoryTable: bigint;
  fragmentTable: bigint;
  lookupTable: bigint;
}

function readFields(b: Buffer): RawSuperblock {
  return {
    magic: b.toString('latin1', 0, 4), //           0..4   s_magic "hsqs"
    inodes: b.readUInt32LE(4), //                   4..8   inodes: how many inodes the image holds
    mkfsTime: b.readUInt32LE(8), //                 8..12  mkfs_time
    blockSize: b.readUInt32LE(12), //               12..16 block_size of file data
    fragments: b.readUInt32LE(16), //               16..20 fragments: entries in the fragment table
    compression: b.readUInt16LE(20), //             20..22 compression id
    blockLog: b.readUInt16LE(22), //                22..24 block_log = log2(block_size)
    flags: b.readUInt16LE(24), //                   24..26 flags
    ids: b.readUInt16LE(26), //                     26..28 no_ids: entries in the uid/gid table
    major: b.readUInt16LE(28), //                   28..30 s_major (4)
    minor: b.readUInt16LE(30), //                   30..32 s_minor (0)
    rootInode: b.readBigUInt64LE(32), //            32..40 root_inode: block << 16 | offset
    bytesUsed: b.readBigUInt64LE(40), //            40..48 bytes_used: the filesystem's length
    idTable: b.readBigUInt64LE(48), //              48..56 id_table_start (index of the id table)
    xattrTable: b.readBigUInt64LE(56), //           56..64 xattr_id_table_start, all ones if none
    inodeTable: b.readBigUInt64LE(64), //           64..72 inode_table_start
    directoryTable: b.readBigUInt64LE(72), //       72..80 directory_table_start
    fragmentTable: b.readBigUInt64LE(80), //        80..88 fragment_table_start (index)
    lookupTable: b.readBigUInt64LE(88), //          88..96 lookup_table_start (export index), all ones if none
  };
}

/** Bytes of the index (one 8-byte pointer per metadata block) of a table of `entries` × `size` bytes. */
function indexBytes(entries: number, size: number): bigint {
  return BigInt(Math.ceil((entries * size) / METADATA_SIZE) * 8);
}

type Bad = (what: string) => CorruptError;

function checkHeader(r: RawSuperblock, bad: Bad): void {
  if (r.magic !== SQUASHFS_MAGIC) throw bad(`no "hsqs" magic`);
  // Squashfs 1-3 and big-endian images have other layouts, and kernels since 2.6.29 mount only 4.0.
  if (r.major !== 4 || r.minor !== 0) throw bad(`unsupported version ${r.major}.${r.minor} (only 4.0 is mounted by Linux)`);
}

function checkBlockSize(r: RawSuperblock, bad: Bad): void {
  const pow2 = (r.blockSize & (r.blockSize - 1)) === 0;
  if (!pow2 || r.blockSize < 4096 || r.blockSize > 1 << 20) throw bad(`bad block_size ${r.blockSize} (a power of two from 4 KiB to 1 MiB)`);
  if (1 << r.blockLog !== r.blockSize) throw bad(`block_log ${r.blockLog} does not match block_size ${r.blockSize}`);
}

function compressionName(r: RawSuperblock, bad: Bad): SquashfsCompression {
  const name = COMPRESSORS[r.compression as keyof typeof COMPRESSORS];
  if (!name) throw bad(`unknown compression id ${r.compression}`);
  return name;
}

function checkCounts(r: RawSuperblock, bad: Bad): void {
  if (r.inodes === 0) throw bad('inode count is 0 (there is not even a root directory)');
  if (r.ids === 0) throw bad('id count is 0 (every inode needs an owner id)');
}

/** Every byte the superblock accounts for must be in the file: a cut copy is the commonest corruption. */
function checkLength(r: RawSuperblock, fileSize: number, bad: Bad): void {
  if (r.bytesUsed < BigInt(SQUASHFS_SUPERBLOCK_SIZE)) throw bad(`bytes_used ${r.bytesUsed} is smaller than the superblock`);
  if (r.bytesUsed > BigInt(fileSize)) throw bad(`truncated: superblock says ${r.bytesUsed} bytes, file has ${fileSize}`);
}

/** The tables in on-disk order, absent ones left out, each with the size of what its start points at. */
function tableList(r: RawSuperblock): Array<{ name: string; start: bigint; size: bigint }> {
  const list = [
    { name: 'inode table', start: r.inodeTable, size: 1n },
    { name: 'directory table', start: r.directoryTable, size: 1n },
  ];
  if (r.fragments > 0) list.push({ name: 'fragment table', start: r.fragmentTable, size: indexBytes(r.fragments, 16) });
  // Like the kernel, trust the start rather than the EXPORTABLE flag (0x80): all ones means none.
  if (r.lookupTable !== ABSENT) list.push({ name: 'lookup table', start: r.lookupTable, size: indexBytes(r.inodes, 8) });
  list.push({ name: 'id table', start: r.idTable, size: indexBytes(r.ids, 4) });
  // The xattr start points at a 16-byte header (table start, count, unused) before its index.
  if (r.xattrTable !== ABSENT) list.push({ name: 'xattr id table', start: r.xattrTable, size: 16n });
  return list;
}

/**
 * Each table starts inside the filesystem, after the superblock, and ends before the next one starts:
 * the kernel reads every index up to the next table's start, so overlap means garbage pointers.
 */
function checkTables(r: RawSuperblock, bad: Bad): void {
  const list = tableList(r);
  for (const t of list) {
    if (t.start >= r.bytesUsed) throw bad(`${t.name} starts at ${t.start}, beyond bytes_used ${r.bytesUsed}`);
    if (t.start < BigInt(SQUASHFS_SUPERBLOCK_SIZE)) throw bad(`${t.name} starts at ${t.start}, inside the superblock`);
  }
  list.forEach((t, i) => {
    const next = list[i + 1] ?? { name: 'the end of the filesystem', start: r.bytesUsed };
    if (t.start + t.size > next.start) throw bad(`${t.name} at ${t.start} runs into ${next.name} at ${next.start}`);
  });
}

/** The root inode reference must point into the inode table (its block) and into a metadata block (its offset). */
function checkRootInode(r: RawSuperblock, bad: Bad): void {
  const block = r.rootInode >> 16n;
  const offset = Number(r.rootInode & 0xffffn);
  const at = r.inodeTable + block;
  if (at >= r.directoryTable || offset >= METADATA_SIZE) {
    throw bad(`root inode (block ${block}, offset ${offset}) lies outside the inode table (${r.inodeTable}..${r.directoryTable})`);
  }
}

function describe(r: RawSuperblock, compression: SquashfsCompression): SquashfsSuperblock {
  const n = Number;
  return {
    bytesUsed: n(r.bytesUsed),
    blockSize: r.blockSize,
    compression,
    inodeCount: r.inodes,
    fragmentCount: r.fragments,
    idCount: r.ids,
    mkfsTime: r.mkfsTime,
    flags: r.flags,
    rootInode: { block: n(r.rootInode >> 16n), offset: n(r.rootInode & 0xffffn) },
    tables: {
      inode: n(r.inodeTable),
      directory: n(r.directoryTable),
      ...(r.fragments > 0 ? { fragment: n(r.fragmentTable) } : {}),
      ...(r.lookupTable !== ABSENT ? { lookup: n(r.lookupTable) } : {}),
      id: n(r.idTable),
      ...(r.xattrTable !== ABSENT ? { xattr: n(r.xattrTable) } : {}),
    },
  };
}

/**
 * Decodes and validates the superblock at the start of `head` (at least the first 96 bytes of the
 * image) against the image's full length `fileSize`. CorruptError, naming `file` when given, says
 * which field is wrong.
 */
export function decodeSquashfsSuperblock(head: Uint8Array, fileSize: number, file?: string): SquashfsSuperblock {
  const bad: Bad = (what) => new CorruptError(`squashfs: ${what}`, { file });
  if (head.length < SQUASHFS_SUPERBLOCK_SIZE) throw bad(`truncated: only ${head.length} bytes, the superblock alone is ${SQUASHFS_SUPERBLOCK_SIZE}`);
  const r = readFields(Buffer.from(head.buffer, head.byteOffset, SQUASHFS_SUPERBLOCK_SIZE));
  checkHeader(r, bad);
  checkBlockSize(r, bad);
  const compression = compressionName(r, bad);
  checkCounts(r, bad);
  checkLength(r, fileSize, bad);
  checkTables(r, bad);
  checkRootInode(r, bad);
  return describe(r, compression);
}
