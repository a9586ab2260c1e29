/** Checks on a /usr filesystem image, and packing a folder into one reproducibly. */
import { promises as fsp } from 'node:fs';
import { execa } from '../exec.js';
import { InputError, ToolError } from '../errors.js';

export type UsrFsType = 'squashfs' | 'erofs';

/** Identifies a squashfs (magic `hsqs` at 0) or erofs (0xE0F5E1E2 at 1024) image, or says what it is not. */
export async function probeUsrImage(path: string): Promise<{ fsType: UsrFsType; bytes: number }> {
  let fh;
  try {
    fh = await fsp.open(path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new InputError(code === 'ENOENT' ? 'no such file' : `cannot read: ${(e as Error).message}`, { file: path });
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new InputError('not a regular file', { file: path });
    const head = Buffer.alloc(1028);
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    if (bytesRead >= 4 && head.toString('latin1', 0, 4) === 'hsqs') return { fsType: 'squashfs', bytes: st.size };
    if (bytesRead >= 1028 && head.readUInt32LE(1024) === 0xe0f5e1e2) return { fsType: 'erofs', bytes: st.size };
    throw new InputError('not a squashfs or erofs image (no hsqs magic)', { file: path });
  } finally {
    await fh.close();
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
