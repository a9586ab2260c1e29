/**
 * `verifyVerity`: checks a data range against its hash area and root hash, with the parameters from the
 * superblock (or, without one, from the caller), through the same traversal that formatVerity writes
 * with (tree.ts). Nothing is written.
 */
import { CorruptError, InputError, UsageError } from '../errors.js';
import { normalizeGuid } from '../guid.js';
import type { ProgressFn } from '../progress.js';
import { DEFAULT_VERITY_PARAMS, DIGEST_SIZE, SUPERBLOCK_SIZE, checkParams, verityLayout, type VerityLayout, type VerityParams } from './geometry.js';
import { decodeVeritySuperblock, superblockParams, type VeritySuperblock } from './superblock.js';
import { runTree, type VerityFailure } from './tree.js';
import { checkOffset, checkJobs, checkSalt, checkRootHash, fileSize, sameFile, readAt, countDataBlocks } from './inputs.js';

export interface VerifyVerityOptions {
  dataPath: string;
  dataOffset?: number;
  /** Default: dataPath. */
  hashPath?: string;
  /** Absolute byte offset of the hash area (the superblock, if any). Default 0. */
  hashOffset?: number;
  /** Expected root hash, hex. */
  rootHash: string;
  /** Without a superblock these describe the tree; with one, any given must match it. */
  params?: Partial<VerityParams>;
  salt?: Buffer | null;
  dataBlocks?: number;
  /** With a superblock: the UUID it must carry (the root hash does not cover it). */
  uuid?: string;
  jobs?: number;
  onProgress?: ProgressFn;
}

export type VerifyVerityResult =
  | { ok: true; rootHash: string; salt: string; uuid?: string; dataBlocks: number; hashOffset: number; hashAreaSize: number; params: VerityParams }
  | VerityFailure;

/** Reads and decodes the superblock at `offset` of `path` (CorruptError when there is none). */
export async function readVeritySuperblock(path: string, offset = 0): Promise<VeritySuperblock> {
  const size = await fileSize(path, 'hash file');
  if (offset + SUPERBLOCK_SIZE > size) throw new CorruptError(`no verity superblock at ${offset}: the file has ${size} bytes`, { file: path });
  const b = Buffer.alloc(SUPERBLOCK_SIZE);
  readAt(path, b, offset);
  return decodeVeritySuperblock(b, path);
}

function fail(region: VerityFailure['region'], message: string): VerityFailure {
  return { ok: false, region, message };
}

/** The parameters of the tree: from the superblock when there is one (checked against any given). */
async function treeParameters(o: VerifyVerityOptions, hashPath: string, hashOffset: number): Promise<
  { params: VerityParams; salt: Buffer; dataBlocks: number | undefined; uuid?: string } | VerityFailure
> {
  const given: VerityParams = { ...DEFAULT_VERITY_PARAMS, ...o.params };
  checkParams(given);
  if (!given.superblock) {
    if (o.salt === undefined) throw new UsageError('without a superblock the salt must be given (null for none)');
    return { params: given, salt: checkSalt(o.salt), dataBlocks: o.dataBlocks };
  }
  let sb: VeritySuperblock;
  try {
    sb = await readVeritySuperblock(hashPath, hashOffset);
  } catch (e) {
    if (e instanceof CorruptError) return fail('superblock', e.message);
    throw e;
  }
  const p = superblockParams(sb);
  const differs: string[] = [];
  for (const k of ['hash', 'dataBlockSize', 'hashBlockSize', 'hashType'] as const) {
    if (o.params?.[k] !== undefined && o.params[k] !== p[k]) differs.push(`${k} ${p[k]} (expected ${o.params[k]})`);
  }
  if (o.dataBlocks !== undefined && o.dataBlocks !== sb.dataBlocks) differs.push(`data blocks ${sb.dataBlocks} (expected ${o.dataBlocks})`);
  if (o.salt !== undefined && !(o.salt ?? Buffer.alloc(0)).equals(sb.salt)) differs.push(`salt ${sb.salt.toString('hex') || '-'} (expected ${o.salt?.toString('hex') || '-'})`);
  if (o.uuid !== undefined && normalizeGuid(o.uuid) !== sb.uuid) differs.push(`uuid ${sb.uuid} (expected ${normalizeGuid(o.uuid)})`);
  if (differs.length) return fail('superblock', `verity superblock: ${differs.join(', ')}`);
  return { params: p, salt: sb.salt, dataBlocks: sb.dataBlocks, uuid: sb.uuid };
}

export async function verifyVerity(o: VerifyVerityOptions): Promise<VerifyVerityResult> {
  const expected = checkRootHash(o.rootHash);
  const dataOffset = checkOffset(o.dataOffset, 'data offset');
  const hashOffset = checkOffset(o.hashOffset, 'hash offset');
  const hashPath = o.hashPath ?? o.dataPath;
  const jobs = checkJobs(o.jobs);
  const dataSize = await fileSize(o.dataPath, 'data file');
  const same = await sameFile(hashPath, o.dataPath);
  const hashSize = same ? dataSize : await fileSize(hashPath, 'hash file');

  const tp = await treeParameters(o, hashPath, hashOffset);
  if ('ok' in tp) return tp;
  const { params, salt } = tp;
  const dbs = params.dataBlockSize;
  const end = same && hashOffset > dataOffset ? Math.min(dataSize, hashOffset) : dataSize;
  const dataBlocks = tp.dataBlocks ?? countDataBlocks(o.dataPath, end - dataOffset, dbs, false);
  if (expected.length !== DIGEST_SIZE[params.hash]) {
    throw new UsageError(`root hash has ${expected.length} bytes, ${params.hash} digests have ${DIGEST_SIZE[params.hash]}`);
  }
  let layout: VerityLayout;
  try {
    layout = verityLayout(dataBlocks, params, hashOffset);
  } catch (e) {
    if (e instanceof UsageError && params.superblock) return fail('superblock', `verity superblock: ${e.message}`);
    throw e;
  }
  // Sizes: a final partial data block (formatted with --pad) reads as zero padded; anything shorter
  // fails. When the superblock gave the block count, the superblock is the suspect; otherwise the input.
  const fromSuperblock = params.superblock && o.dataBlocks === undefined;
  const short = (msg: string, file: string) => {
    if (fromSuperblock) return fail('superblock', `verity superblock: ${msg}`);
    throw new InputError(msg, { file });
  };
  if (dataSize - dataOffset <= (dataBlocks - 1) * dbs) {
    return short(`${dataBlocks} data blocks of ${dbs} bytes do not fit in the ${Math.max(0, dataSize - dataOffset)} bytes from data offset ${dataOffset}`, o.dataPath);
  }
  if (hashSize < layout.writtenEnd) return short(`the hash area for ${dataBlocks} data blocks ends at ${layout.writtenEnd}, past the end of the file (${hashSize} bytes)`, hashPath);
  if (params.superblock) {
    // The rest of the superblock's hash block must be zero (veritysetup writes zeros there).
    // (With no tree, a veritysetup file may end inside that block: the missing bytes read as zero.)
    const gap = Buffer.alloc(layout.treeOffset - hashOffset - SUPERBLOCK_SIZE);
    readAt(hashPath, gap, hashOffset + SUPERBLOCK_SIZE);
    if (gap.some((b) => b !== 0)) return fail('superblock', 'the hash block holding the verity superblock is not zero after it');
  }
  const outcome = await runTree({
    mode: 'verify',
    layout,
    hasher: { hash: params.hash, hashType: params.hashType, hashBlockSize: params.hashBlockSize, salt },
    dataPath: o.dataPath,
    dataOffset,
    hashPath,
    jobs,
    onProgress: o.onProgress,
    rootHash: expected,
  });
  if (!outcome.ok) return outcome;
  return {
    ok: true,
    rootHash: outcome.rootHash.toString('hex'),
    salt: salt.toString('hex'),
    ...(tp.uuid ? { uuid: tp.uuid } : {}),
    dataBlocks,
    hashOffset,
    hashAreaSize: layout.size,
    params,
  };
}
