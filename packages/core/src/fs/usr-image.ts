/** Checks on a /usr filesystem image: its type, the bytes that go into a slot, its version. (Packing one is in repro.ts.) */
import { execa } from '../exec.js';
import { CorruptError, InputError } from '../errors.js';
import { probeFilesystem, type FilesystemInfo } from './index.js';

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


/** A readable VERSION_ID from the image's lib/os-release, when unsquashfs can get at it. */
export async function usrVersion(usrPath: string, fsType: string): Promise<string | undefined> {
  if (fsType !== 'squashfs') return undefined;
  const r = await execa('unsquashfs', ['-cat', usrPath, 'lib/os-release'], { reject: false });
  if (r.exitCode !== 0) return undefined;
  // IMAGE_VERSION first: what systemd-sysupdate protects as the running version (ProtectVersion=%A)
  const image = /^IMAGE_VERSION=["']?([^"'\n]*)["']?$/m.exec(String(r.stdout));
  const m = image ?? /^VERSION_ID=["']?([^"'\n]*)["']?$/m.exec(String(r.stdout));
  return m?.[1];
}
