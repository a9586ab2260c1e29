/**
 * `formatVerity`: writes the hash area of a data range exactly as `veritysetup format` does, and
 * `verifyVerity`: checks a data range against its hash area and root hash. Both validate every input
 * before the first write (nothing is written on a bad input); a new separate hash file is built under
 * a temporary name and renamed into place; an existing one (or the data file itself, the Flatcar
 * layout) is written in place at the hash offset, tree first and superblock last.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { closeSync, fstatSync, openSync, promises as fsp, readSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, resolve } from 'node:path';
import { tempPathFor, trackTemporary } from '../atomic.js';
import { CorruptError, errnoWords, InputError, UsageError } from '../errors.js';
import { normalizeGuid } from '../guid.js';
import type { ProgressFn } from '../progress.js';
import { DEFAULT_VERITY_PARAMS, DIGEST_SIZE, SUPERBLOCK_SIZE, checkParams, verityLayout, type VerityLayout, type VerityParams } from './geometry.js';
import { MAX_SALT_SIZE, decodeVeritySuperblock, encodeVeritySuperblock, superblockParams, type VeritySuperblock } from './superblock.js';
import { runTree, type VerityFailure } from './tree.js';

/**
 * Where {@link formatVerity} reads data and writes the tree, and the tree's parameters.
 *
 * @example
 * ```ts
 * const o: FormatVerityOptions = { dataPath: 'usr.img', hashPath: 'usr.verity', salt: null, params: { hash: 'sha256' } };
 * ```
 */
export interface FormatVerityOptions {
  dataPath: string;
  /** Byte offset of the data area in the data file (a partition inside an image). Default 0. */
  dataOffset?: number;
  /** Default: the whole data file from dataOffset (up to hashOffset when the hash is in the same file). */
  dataBlocks?: number;
  /** Default: dataPath (the hash area goes after the data in the same file). */
  hashPath?: string;
  /**
   * Absolute byte offset of the hash area in the hash file (veritysetup --hash-offset). Default: 0 for
   * a separate file; for the same file, the end of the data rounded up to 512 bytes (to a hash block
   * without a superblock). With a superblock it must be a multiple of 512, without one of the hash
   * block size.
   */
  hashOffset?: number;
  params?: Partial<VerityParams>;
  /** undefined: 32 random bytes; null: no salt (veritysetup --salt -). */
  salt?: Buffer | null;
  /**
   * Superblock UUID; default a random v4 UUID. A function is asked once the root hash is known (the
   * superblock is written after the tree, and its UUID is not covered by the root hash): reproducible
   * builds name the superblock after what it seals.
   */
  uuid?: string | ((rootHash: string) => string);
  /**
   * Also write the data blocks (the last one zero padded) to `path` at `offset` as they are hashed:
   * a copy of the data whose tree is computed from exactly the bytes written, reading the data once.
   * The file must exist; the range may not overlap the data or the hash area.
   */
  copyTo?: { path: string; offset: number };
  /** fsync the hash file at the end (default true); false where the caller flushes it later anyway. */
  sync?: boolean;
  /** Absolute byte offset the hash area must end by (e.g. the end of a partition); checked before writing. */
  hashLimit?: number;
  /** Accept data whose size is not a multiple of the data block size (the last block is zero padded). */
  pad?: boolean;
  /**
   * Whether the hash area may be written into the data file itself (hashPath unset or naming the same
   * file): that grows the file past its end, or overwrites the bytes at hashOffset. Default true, the
   * Flatcar layout the image builder relies on; the CLI passes false unless --force, so a user's input
   * never changes because a HASHFILE argument was left out. Checked with the other inputs, before any write.
   */
  writeIntoData?: boolean;
  /** Worker threads (default: os.availableParallelism()). */
  jobs?: number;
  onProgress?: ProgressFn;
}

/**
 * What {@link formatVerity} wrote: the root hash, salt and UUID, and where the hash area lies.
 *
 * @example
 * ```ts
 * const f: FormatVerityResult = await formatVerity({ dataPath: 'usr.img', hashPath: 'usr.verity' });
 * console.log(f.rootHash, f.salt, f.hashAreaSize);
 * ```
 */
export interface FormatVerityResult {
  rootHash: string;
  salt: string;
  uuid?: string;
  /** Bytes from hashOffset to the end of the hash area (superblock and its block included). */
  hashAreaSize: number;
  dataBlocks: number;
  hashOffset: number;
  params: VerityParams;
}

/**
 * Where {@link verifyVerity} reads data and tree, and the root hash they must match.
 *
 * @example
 * ```ts
 * const o: VerifyVerityOptions = { dataPath: 'disk.raw', dataOffset: 72351744, hashOffset: 72351744 + 1065345024, rootHash };
 * ```
 */
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

/**
 * What {@link verifyVerity} found: the tree's facts when the data matches, else where it does not.
 *
 * @example
 * ```ts
 * const r: VerifyVerityResult = await verifyVerity({ dataPath: 'usr.img', hashPath: 'usr.verity', rootHash });
 * console.log(r.ok ? `ok, ${r.dataBlocks} blocks` : `${r.region}: ${r.message}`);
 * ```
 */
export type VerifyVerityResult =
  | { ok: true; rootHash: string; salt: string; uuid?: string; dataBlocks: number; hashOffset: number; hashAreaSize: number; params: VerityParams }
  | VerityFailure;

function checkOffset(v: number | undefined, name: string): number {
  if (v === undefined) return 0;
  if (!Number.isSafeInteger(v) || v < 0) throw new UsageError(`${name} must be a non-negative integer, got ${v}`);
  return v;
}

function checkJobs(j: number | undefined): number {
  if (j === undefined) return availableParallelism();
  if (!Number.isInteger(j) || j < 1 || j > 256) throw new UsageError(`jobs must be an integer from 1 to 256, got ${j}`);
  return j;
}

function checkSalt(s: Buffer | null | undefined): Buffer {
  if (s === null) return Buffer.alloc(0);
  if (s === undefined) return randomBytes(32);
  if (s.length > MAX_SALT_SIZE) throw new UsageError(`salt of ${s.length} bytes is longer than ${MAX_SALT_SIZE}`);
  return Buffer.from(s);
}

function checkRootHash(h: string): Buffer {
  if (!/^([0-9a-f]{2})+$/i.test(h)) throw new UsageError(`root hash must be hex, got "${h}"`);
  return Buffer.from(h, 'hex');
}

// The checks and small reads before and after the tree (sizes, the superblock, the bytes after it) use
// blocking calls: each takes microseconds, where a trip through libuv's thread pool costs tens of them,
// and far more on a busy machine; a verify makes about twenty of them before it hashes anything.

/** File size, with a missing or unreadable file reported as InputError naming it. */
async function fileSize(path: string, what: string): Promise<number> {
  try {
    const fd = openSync(path, 'r');
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw new InputError(`${what} is not a regular file`, { file: path });
      return st.size;
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    if (e instanceof InputError) throw e;
    const err = e as NodeJS.ErrnoException;
    throw new InputError(err.code === 'ENOENT' ? `${what} does not exist` : `cannot read ${what}: ${errnoWords(err.code) ?? err.message}`, { file: path, cause: e });
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Whether two paths name one file (same path, or a link to the same inode), so writes could hit the data. */
async function sameFile(a: string, b: string): Promise<boolean> {
  if (resolve(a) === resolve(b)) return true;
  try {
    const [x, y] = [statSync(a), statSync(b)];
    return x.dev === y.dev && x.ino === y.ino;
  } catch {
    return false;
  }
}

/** Reads `buf.length` bytes at `pos` (fewer at the end of the file: the rest stays as it was). */
function readAt(path: string, buf: Buffer, pos: number): void {
  const fd = openSync(path, 'r');
  try {
    let done = 0;
    while (done < buf.length) {
      const n = readSync(fd, buf, done, buf.length - done, pos + done);
      if (n === 0) break;
      done += n;
    }
  } finally {
    closeSync(fd);
  }
}

/** How many data blocks `avail` bytes hold (a partial last block only with `pad`). */
function countDataBlocks(dataPath: string, avail: number, bs: number, pad: boolean): number {
  if (avail <= 0) throw new InputError('no data at the given data offset', { file: dataPath });
  if (avail % bs !== 0 && !pad) {
    throw new InputError(`data size ${avail} is not a multiple of the data block size ${bs} (use --pad to zero pad the last block)`, { file: dataPath });
  }
  return Math.ceil(avail / bs);
}

function overlaps(aStart: number, aEnd: number, bStart: number, bEnd: number): boolean {
  return aStart < bEnd && bStart < aEnd;
}

/** The copy's target exists, is a regular file, and its range overlaps neither the data nor the hash area. */
async function checkCopyTarget(copy: { path: string; offset: number }, bytes: number, ...areas: Array<[string, number, number]>): Promise<void> {
  checkOffset(copy.offset, 'copy offset');
  await fileSize(copy.path, 'copy target');
  for (const [path, start, end] of areas) {
    if ((await sameFile(copy.path, path)) && overlaps(copy.offset, copy.offset + bytes, start, end)) {
      throw new InputError(`the copy's range ${copy.offset}..${copy.offset + bytes} overlaps ${start}..${end} of the same file`, { file: copy.path });
    }
  }
}

/**
 * Writes the dm-verity hash tree of a data range exactly as `veritysetup format` does (same bytes for
 * the same salt and UUID), streaming and on worker threads. Every input is checked before the first write.
 *
 * @example
 * ```ts
 * import { formatVerity } from '@imgbuild/core';
 *
 * const f = await formatVerity({ dataPath: 'usr.img', hashPath: 'usr.verity' });
 * console.log(`veritysetup open usr.img usr usr.verity ${f.rootHash}`);
 * ```
 */
export async function formatVerity(o: FormatVerityOptions): Promise<FormatVerityResult> {
  // 1. Every input is checked before anything is written.
  const params: VerityParams = { ...DEFAULT_VERITY_PARAMS, ...o.params };
  checkParams(params);
  const dbs = params.dataBlockSize;
  const dataOffset = checkOffset(o.dataOffset, 'data offset');
  const hashPath = o.hashPath ?? o.dataPath;
  const same = await sameFile(hashPath, o.dataPath);
  const salt = checkSalt(o.salt);
  if (params.superblock && typeof o.uuid === 'string') normalizeGuid(o.uuid); // a bad UUID fails before any write
  const uuidOf = (rootHash: string) => (params.superblock ? normalizeGuid(typeof o.uuid === 'function' ? o.uuid(rootHash) : (o.uuid ?? randomUUID())) : undefined);
  const jobs = checkJobs(o.jobs);
  if (o.hashOffset !== undefined) checkOffset(o.hashOffset, 'hash offset');

  const dataSize = await fileSize(o.dataPath, 'data file');
  if (dataOffset > dataSize) throw new InputError(`data offset ${dataOffset} is beyond the end of the file (${dataSize} bytes)`, { file: o.dataPath });
  // Without --data-blocks the data is the whole file, as veritysetup counts it: a hash offset inside it
  // is then an overlap error, never a silent truncation of the data.
  const end = dataSize;
  let dataBlocks: number;
  if (o.dataBlocks !== undefined) {
    dataBlocks = o.dataBlocks;
    if (!Number.isSafeInteger(dataBlocks) || dataBlocks < 1) throw new UsageError(`data blocks must be a positive integer, got ${dataBlocks}`);
    const have = dataSize - dataOffset;
    const need = dataBlocks * dbs;
    if (have < need && !(o.pad && have > need - dbs)) {
      throw new InputError(`data holds ${have} bytes from offset ${dataOffset}, less than ${dataBlocks} blocks of ${dbs}`, { file: o.dataPath });
    }
  } else {
    dataBlocks = countDataBlocks(o.dataPath, end - dataOffset, dbs, !!o.pad);
  }
  const dataEnd = dataOffset + dataBlocks * dbs;
  const align = params.superblock ? 512 : params.hashBlockSize;
  const hashOffset = o.hashOffset ?? (same ? Math.ceil(dataEnd / align) * align : 0);
  const layout = verityLayout(dataBlocks, params, hashOffset);
  if (same && overlaps(dataOffset, dataEnd, hashOffset, layout.end)) {
    throw new InputError(`hash area ${hashOffset}..${layout.end} overlaps the data area ${dataOffset}..${dataEnd}`, { file: o.dataPath });
  }
  if (same && o.writeIntoData === false) {
    const what = layout.end > dataSize ? `append the hash area to it (growing it from ${dataSize} to ${layout.end} bytes)` : `overwrite its bytes ${hashOffset}..${layout.end} with the hash area`;
    throw new InputError(`no hash file given: this would ${what}; give --force to do so, or a separate HASHFILE`, { file: o.dataPath });
  }
  if (o.hashLimit !== undefined && layout.end > o.hashLimit) {
    throw new InputError(`hash area ${hashOffset}..${layout.end} does not fit: it must end by ${o.hashLimit}`, { file: hashPath });
  }
  if (o.copyTo) await checkCopyTarget(o.copyTo, dataBlocks * dbs, [o.dataPath, dataOffset, dataEnd], [hashPath, hashOffset, layout.end]);
  if (!same && !(await exists(hashPath)) && !(await exists(dirname(hashPath)))) {
    throw new InputError('folder of the hash file does not exist', { file: hashPath });
  }

  // 2. Build: a new separate hash file under a temporary name, otherwise in place.
  const fresh = !same && !(await exists(hashPath));
  const target = fresh ? tempPathFor(hashPath) : hashPath;
  const untrack = fresh ? trackTemporary(target) : () => {};
  try {
    const fh = await fsp.open(target, fresh ? 'wx+' : 'r+').catch((e: NodeJS.ErrnoException) => {
      throw new InputError(`cannot write the hash file: ${errnoWords(e.code) ?? e.message}`, { file: hashPath, cause: e });
    });
    try {
      const sizeBefore = (await fh.stat()).size;
      if (sizeBefore < layout.writtenEnd) await fh.truncate(layout.writtenEnd);
      const outcome = await runTree({
        mode: 'create',
        layout,
        hasher: { hash: params.hash, hashType: params.hashType, hashBlockSize: params.hashBlockSize, salt },
        dataPath: o.dataPath,
        dataOffset,
        hashPath: target,
        jobs,
        onProgress: o.onProgress,
        copy: o.copyTo,
      });
      if (!outcome.ok) throw new Error(`internal: create reported ${outcome.message}`);
      const uuid = uuidOf(outcome.rootHash.toString('hex'));
      if (uuid) {
        const sb: VeritySuperblock = { version: 1, hashType: params.hashType, uuid, hash: params.hash, dataBlockSize: dbs, hashBlockSize: params.hashBlockSize, dataBlocks, salt };
        // The superblock, then zeros up to the first tree block (the rest of its hash block).
        // (With no tree veritysetup writes only part of that block; an existing file is zeroed up to
        // the tree offset or its end, so no stale bytes stay next to the superblock.)
        const head = Buffer.alloc(Math.min(layout.treeOffset, Math.max(layout.writtenEnd, sizeBefore)) - hashOffset);
        encodeVeritySuperblock(sb).copy(head, 0);
        await fh.write(head, 0, head.length, hashOffset);
      }
      if (o.sync !== false || fresh) await fh.sync();
      if (fresh) await fsp.rename(target, hashPath);
      return {
        rootHash: outcome.rootHash.toString('hex'),
        salt: salt.toString('hex'),
        ...(uuid ? { uuid } : {}),
        hashAreaSize: layout.size,
        dataBlocks,
        hashOffset,
        params,
      };
    } finally {
      await fh.close();
    }
  } catch (e) {
    if (fresh) await fsp.rm(target, { force: true });
    throw e;
  } finally {
    untrack();
  }
}

/**
 * Reads and decodes the superblock at `offset` of `path` (CorruptError when there is none).
 *
 * @example
 * ```ts
 * const sb = await readVeritySuperblock('usr.verity');
 * console.log(sb.dataBlocks, sb.hash, sb.salt.toString('hex'));
 * ```
 */
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

/**
 * Checks a data range against its hash tree and root hash, as `veritysetup verify` does; the result
 * names the first bad block. Not an error when they differ: `ok: false`.
 *
 * @example
 * ```ts
 * import { verifyVerity } from '@imgbuild/core';
 *
 * const r = await verifyVerity({ dataPath: 'usr.img', hashPath: 'usr.verity', rootHash });
 * if (!r.ok) console.error(`${r.region} block ${r.index}: ${r.message}`);
 * ```
 */
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
