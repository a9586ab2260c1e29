/**
 * `formatVerity`: writes the hash area of a data range exactly as `veritysetup format` does. It validates
 * every input before the first write (nothing is written on a bad input); a new separate hash file is
 * built under a temporary name and renamed into place; an existing one (or the data file itself, the
 * Flatcar layout) is written in place at the hash offset, tree first and superblock last. Checking a
 * tree is verify.ts.
 */
import { randomUUID } from 'node:crypto';
import { promises as fsp, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { tempPathFor, trackTemporary } from '../atomic.js';
import { errnoWords, InputError, UsageError } from '../errors.js';
import { normalizeGuid } from '../guid.js';
import type { ProgressFn } from '../progress.js';
import { DEFAULT_VERITY_PARAMS, checkParams, verityLayout, type VerityParams } from './geometry.js';
import { encodeVeritySuperblock, type VeritySuperblock } from './superblock.js';
import { runTree } from './tree.js';
import { checkOffset, checkJobs, checkSalt, fileSize, sameFile, countDataBlocks } from './inputs.js';

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

async function exists(path: string): Promise<boolean> {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
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
