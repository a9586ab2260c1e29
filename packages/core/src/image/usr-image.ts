/** Checks on a /usr filesystem image, and packing a folder into one reproducibly. */
import { promises as fsp } from 'node:fs';
import { execa } from '../exec.js';
import { CorruptError, InputError, ToolError } from '../errors.js';
import { probeFilesystem, type FilesystemInfo } from '../fs/index.js';

export type UsrFsType = 'squashfs' | 'erofs';

/** What `probeUsrImage` found: the filesystem, and how many bytes of the file go into a slot. */
export interface UsrImage {
  fsType: UsrFsType;
  /** The whole file: copied, hashed and recorded as the source's size (mksquashfs's 4 KiB padding included). */
  bytes: number;
  /** The superblock's description; `fs.bytesUsed` ≤ `bytes`. */
  fs: FilesystemInfo;
}

/**
 * Checks that `path` holds a whole, sane squashfs or erofs image (superblock fields, every byte it
 * accounts for present) before anything is written from it: a cut or corrupt image would otherwise
 * be sealed by a verity tree and "verify". InputError naming `path` and the problem otherwise.
 */
export async function probeUsrImage(path: string): Promise<UsrImage> {
  try {
    const fs = await probeFilesystem(path);
    return { fsType: fs.type, bytes: fs.fileSize, fs };
  } catch (e) {
    if (e instanceof CorruptError) throw new InputError(e.message, { file: path, cause: e });
    throw e;
  }
}

/**
 * Packs `dir` (the contents of /usr) with mksquashfs: all files owned by root, every timestamp set to
 * SOURCE_DATE_EPOCH, so the same tree gives the same bytes.
 */
export async function mksquashfsReproducible(dir: string, out: string, sourceDateEpoch: number): Promise<void> {
  const st = await fsp.stat(dir).catch(() => undefined);
  if (!st?.isDirectory()) throw new InputError('not a directory', { file: dir });
  // mksquashfs refuses SOURCE_DATE_EPOCH in its environment together with the explicit time options.
  const { SOURCE_DATE_EPOCH: _ignored, ...env } = process.env;
  const r = await execa('mksquashfs', [dir, out, '-noappend', '-all-root', '-no-progress', '-quiet', '-mkfs-time', String(sourceDateEpoch), '-all-time', String(sourceDateEpoch), '-no-xattrs'], {
    reject: false,
    env,
    extendEnv: false,
  });
  if (r.exitCode !== 0) throw new ToolError(`mksquashfs failed: ${String(r.stderr).trim().split('\n').pop()}`, { file: dir });
}

/** A readable VERSION_ID from the image's lib/os-release, when unsquashfs can get at it. */
export async function usrVersion(usrPath: string, fsType: string): Promise<string | undefined> {
  if (fsType !== 'squashfs') return undefined;
  const r = await execa('unsquashfs', ['-cat', usrPath, 'lib/os-release'], { reject: false });
  if (r.exitCode !== 0) return undefined;
  const m = /^VERSION_ID=["']?([^"'\n]*)["']?$/m.exec(String(r.stdout));
  return m?.[1];
}
