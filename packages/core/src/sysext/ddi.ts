/**
 * A sysext Discoverable Disk Image: a GPT holding the filesystem (usr/ and opt/ at its top) in a `root`
 * partition and its dm-verity hash tree (superblock first, as systemd-repart writes it with
 * libcryptsetup) in a `root-verity` partition, both marked read-only (naming.ts says why root). The partition UUIDs are the root hash itself, as systemd-repart
 * sets them (repart.c, partition_format_verity_hash): the data partition takes the root hash's first
 * 16 bytes and the verity partition its last 16, copied as they are into the UUID's bytes (no
 * version or variant bits), so the root hash alone (the `.roothash` file beside the image) finds both (UAPI Discoverable Partitions Specification).
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { setFlag } from '../gpt/attributes.js';
import { writeGpt } from '../gpt/io.js';
import { emptyTable, type GptTable } from '../gpt/table.js';
import { bytesToUuid } from '../guid.js';
import { FileStorage } from '../storage.js';
import { DEFAULT_VERITY_PARAMS, verityLayout } from '../verity/geometry.js';
import { formatVerity } from '../verity/format.js';
import { archPartitions, type SysextArch } from './naming.js';

const SECTOR = 512;
/** Partitions and the disk end on 4 KiB, the verity block size and systemd-repart's grain. */
export const DDI_GRAIN = 4096;
/** The first partition starts at 1 MiB, where libfdisk (and so systemd-repart) puts it. */
export const DDI_FIRST_PARTITION = 1024 * 1024;
/** Sectors the backup GPT takes at the end of the disk: 32 of entries and its header. */
const BACKUP_GPT_SECTORS = 33;

const roundUp = (n: number, to: number) => Math.ceil(n / to) * to;

/** The data and verity partition UUIDs systemd-repart derives from a root hash. */
export function ddiPartitionUuids(rootHash: string): { data: string; verity: string } {
  const h = Buffer.from(rootHash, 'hex');
  if (h.length < 32 || h.toString('hex') !== rootHash.toLowerCase()) throw new Error(`internal: root hash "${rootHash}" is not 32 or more bytes of hex`);
  return { data: bytesToUuid(h.subarray(0, 16)), verity: bytesToUuid(h.subarray(h.length - 16)) };
}

/** Where everything goes, in bytes; known before the tree is hashed. */
export interface DdiGeometry {
  dataOffset: number;
  dataBytes: number;
  dataBlocks: number;
  verityOffset: number;
  verityBytes: number;
  diskBytes: number;
}

export function ddiGeometry(fsBytes: number): DdiGeometry {
  const p = DEFAULT_VERITY_PARAMS;
  const dataBytes = roundUp(fsBytes, DDI_GRAIN);
  const dataBlocks = dataBytes / p.dataBlockSize;
  const verityBytes = verityLayout(dataBlocks, p, 0).size;
  const dataOffset = DDI_FIRST_PARTITION;
  const verityOffset = dataOffset + dataBytes;
  const diskBytes = roundUp(verityOffset + verityBytes + BACKUP_GPT_SECTORS * SECTOR, DDI_GRAIN);
  return { dataOffset, dataBytes, dataBlocks, verityOffset, verityBytes, diskBytes };
}

/**
 * A partition of a system extension's Discoverable Disk Image: its data (squashfs or erofs) or its verity tree.
 *
 * @example
 * ```ts
 * const x = await buildSysext({ fromDir: 'ext', name: 'tools', version: '1' });
 * for (const p of x.partitions) console.log(p.label, p.uuid);
 * ```
 */
export interface DdiPartition {
  number: number;
  role: 'root' | 'root-verity';
  type: string;
  uuid: string;
  label: string;
  offset: number;
  bytes: number;
}

export function ddiTable(g: DdiGeometry, arch: SysextArch, rootHash: string, diskGuid: string): { table: GptTable; partitions: DdiPartition[] } {
  const a = archPartitions(arch);
  const uuids = ddiPartitionUuids(rootHash);
  const partitions: DdiPartition[] = [
    { number: 1, role: 'root', type: a.dataType, uuid: uuids.data, label: a.dataLabel, offset: g.dataOffset, bytes: g.dataBytes },
    { number: 2, role: 'root-verity', type: a.verityType, uuid: uuids.verity, label: a.verityLabel, offset: g.verityOffset, bytes: g.verityBytes },
  ];
  const table = emptyTable(SECTOR, g.diskBytes / SECTOR, diskGuid);
  // Read-only (bit 60): the Discoverable Partitions Specification's flag for verity data and hash.
  const readOnly = setFlag(0n, 'readOnly', true);
  for (const p of partitions) {
    table.entries[p.number - 1] = { type: p.type, uuid: p.uuid, firstLba: p.offset / SECTOR, lastLba: (p.offset + p.bytes) / SECTOR - 1, attributes: readOnly, name: p.label };
  }
  return { table, partitions };
}

export interface WriteDdiOptions {
  /** The filesystem image to put in the data (root) partition. */
  fsPath: string;
  fsBytes: number;
  /** A new file to write the disk into (the caller renames it into place). */
  out: string;
  arch: SysextArch;
  salt: Buffer;
  verityUuid: string;
  diskGuid: string;
}

/** Writes the whole DDI into `out`; returns the root hash and the partitions. */
export async function writeDdi(o: WriteDdiOptions): Promise<{ rootHash: string; geometry: DdiGeometry; partitions: DdiPartition[] }> {
  const g = ddiGeometry(o.fsBytes);
  const s = await FileStorage.create(o.out, g.diskBytes);
  await s.close();
  await pipeline(createReadStream(o.fsPath), createWriteStream(o.out, { flags: 'r+', start: g.dataOffset }));
  const v = await formatVerity({
    dataPath: o.out,
    dataOffset: g.dataOffset,
    dataBlocks: g.dataBlocks,
    hashPath: o.out,
    hashOffset: g.verityOffset,
    hashLimit: g.verityOffset + g.verityBytes,
    params: DEFAULT_VERITY_PARAMS,
    salt: o.salt,
    uuid: o.verityUuid,
  });
  const { table, partitions } = ddiTable(g, o.arch, v.rootHash, o.diskGuid);
  const disk = await FileStorage.open(o.out, true);
  try {
    await writeGpt(disk, table, { protectiveMbr: true });
  } finally {
    await disk.close();
  }
  return { rootHash: v.rootHash, geometry: g, partitions };
}
