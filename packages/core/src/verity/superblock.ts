/**
 * The 512-byte dm-verity superblock (cryptsetup's `struct verity_sb`), little-endian, at the hash
 * offset. A pure codec: bytes in, value out and back; no I/O. Decoding is strict (every padding byte
 * must be zero), so any single flipped bit outside the uuid/salt contents is reported as corruption.
 */
import { CorruptError, UsageError } from '../errors.js';
import { bytesToUuid, uuidToBytes } from '../guid.js';
import { SUPERBLOCK_SIZE, type VerityHash, type VerityParams } from './geometry.js';

export const VERITY_SIGNATURE = 'verity\0\0';
export const MAX_SALT_SIZE = 256;

/**
 * The 512-byte superblock `veritysetup format` writes before the tree: the tree's parameters, its salt
 * and UUID (the root hash is not in it).
 *
 * @example
 * ```ts
 * const sb: VeritySuperblock = await readVeritySuperblock('usr.verity');
 * console.log(sb.hash, sb.dataBlocks, sb.salt.toString('hex'), sb.uuid);
 * ```
 */
export interface VeritySuperblock {
  /** Always 1. */
  version: number;
  hashType: 0 | 1;
  /** Lowercase textual UUID (stored as 16 raw bytes in RFC 4122 order). */
  uuid: string;
  hash: VerityHash;
  dataBlockSize: number;
  hashBlockSize: number;
  dataBlocks: number;
  /** 0 to 256 bytes. */
  salt: Buffer;
}

const ALGORITHMS: readonly VerityHash[] = ['sha1', 'sha256', 'sha512'];

function isPow2In(n: number, lo: number, hi: number): boolean {
  return n >= lo && n <= hi && (n & (n - 1)) === 0;
}

/**
 * Encodes a superblock into its 512 bytes.
 *
 * @example
 * ```ts
 * const bytes = encodeVeritySuperblock({ ...sb, uuid: '7bdda1ac-6866-4206-8fc7-2d6deadf9295' });
 * decodeVeritySuperblock(bytes).uuid; // '7bdda1ac-6866-4206-8fc7-2d6deadf9295'
 * ```
 */
export function encodeVeritySuperblock(sb: VeritySuperblock): Buffer {
  if (sb.salt.length > MAX_SALT_SIZE) throw new UsageError(`salt of ${sb.salt.length} bytes is longer than ${MAX_SALT_SIZE}`);
  const b = Buffer.alloc(SUPERBLOCK_SIZE);
  b.write(VERITY_SIGNATURE, 0, 8, 'latin1'); //          0..8    signature "verity\0\0"
  b.writeUInt32LE(sb.version, 8); //                      8..12   version (1)
  b.writeUInt32LE(sb.hashType, 12); //                    12..16  hash_type: 1 normal, 0 Chrome OS
  uuidToBytes(sb.uuid).copy(b, 16); //                    16..32  uuid, raw bytes
  b.write(sb.hash, 32, 32, 'latin1'); //                  32..64  algorithm name, NUL padded
  b.writeUInt32LE(sb.dataBlockSize, 64); //               64..68  data_block_size
  b.writeUInt32LE(sb.hashBlockSize, 68); //               68..72  hash_block_size
  b.writeBigUInt64LE(BigInt(sb.dataBlocks), 72); //       72..80  data_blocks
  b.writeUInt16LE(sb.salt.length, 80); //                 80..82  salt_size
  //                                                      82..88  padding (zero)
  sb.salt.copy(b, 88); //                                 88..344 salt, zero padded
  //                                                      344..512 padding (zero)
  return b;
}

function zeroRange(b: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (b[i] !== 0) return false;
  return true;
}

/**
 * Decodes and validates a superblock; CorruptError (naming `file` when given) on any bad field.
 *
 * @example
 * ```ts
 * const sb = decodeVeritySuperblock(await readFile('usr.verity'), 'usr.verity');
 * ```
 */
export function decodeVeritySuperblock(bytes: Uint8Array, file?: string): VeritySuperblock {
  const bad = (what: string) => new CorruptError(`verity superblock: ${what}`, { file });
  if (bytes.length < SUPERBLOCK_SIZE) throw bad(`only ${bytes.length} bytes`);
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, SUPERBLOCK_SIZE);
  if (b.toString('latin1', 0, 8) !== VERITY_SIGNATURE) throw bad('no "verity" signature');
  const version = b.readUInt32LE(8);
  if (version !== 1) throw bad(`unsupported version ${version}`);
  const hashType = b.readUInt32LE(12);
  if (hashType !== 0 && hashType !== 1) throw bad(`unsupported hash type ${hashType}`);
  const nameEnd = b.indexOf(0, 32);
  const name = b.toString('latin1', 32, nameEnd < 0 || nameEnd > 64 ? 64 : nameEnd);
  if (!(ALGORITHMS as readonly string[]).includes(name)) throw bad(`unsupported hash algorithm "${name}"`);
  if (!zeroRange(b, 32 + name.length, 64)) throw bad('algorithm name is not NUL padded');
  const dataBlockSize = b.readUInt32LE(64);
  const hashBlockSize = b.readUInt32LE(68);
  if (!isPow2In(dataBlockSize, 512, 512 * 1024)) throw bad(`bad data block size ${dataBlockSize}`);
  if (!isPow2In(hashBlockSize, 512, 512 * 1024)) throw bad(`bad hash block size ${hashBlockSize}`);
  const dataBlocks64 = b.readBigUInt64LE(72);
  if (dataBlocks64 < 1n || dataBlocks64 > BigInt(Number.MAX_SAFE_INTEGER)) throw bad(`bad data block count ${dataBlocks64}`);
  const saltSize = b.readUInt16LE(80);
  if (saltSize > MAX_SALT_SIZE) throw bad(`salt size ${saltSize} is larger than ${MAX_SALT_SIZE}`);
  if (!zeroRange(b, 82, 88)) throw bad('padding after salt_size is not zero');
  if (!zeroRange(b, 88 + saltSize, SUPERBLOCK_SIZE)) throw bad('padding after the salt is not zero');
  return {
    version,
    hashType,
    uuid: bytesToUuid(b.subarray(16, 32)),
    hash: name as VerityHash,
    dataBlockSize,
    hashBlockSize,
    dataBlocks: Number(dataBlocks64),
    salt: Buffer.from(b.subarray(88, 88 + saltSize)),
  };
}

/**
 * The tree parameters a superblock describes (a superblock is, by definition, present).
 *
 * @example
 * ```ts
 * superblockParams(sb); // { hash: 'sha256', dataBlockSize: 4096, hashBlockSize: 4096, hashType: 1, superblock: true }
 * ```
 */
export function superblockParams(sb: VeritySuperblock): VerityParams {
  return { hash: sb.hash, dataBlockSize: sb.dataBlockSize, hashBlockSize: sb.hashBlockSize, hashType: sb.hashType, superblock: true };
}
