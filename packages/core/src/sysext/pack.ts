/** Packing the staged tree into a read-only filesystem, reproducibly (fixed times, everything root's). */
import { execa } from '../exec.js';
import { ToolError } from '../errors.js';
import { mksquashfsReproducible } from '../repro.js';

export type SysextFs = 'squashfs' | 'erofs';

export interface PackOptions {
  fs: SysextFs;
  sourceDateEpoch: number;
  /** erofs superblock UUID (mkfs.erofs picks a random one otherwise); squashfs has none. */
  uuid: string;
}

export async function packSysextTree(stage: string, out: string, o: PackOptions): Promise<void> {
  if (o.fs === 'squashfs') return mksquashfsReproducible(stage, out, o.sourceDateEpoch);
  // -T fixes every inode's time and the build time; -x-1 drops xattrs (the tree's, and the builder's
  // security labels); --all-root as mksquashfs -all-root.
  const r = await execa('mkfs.erofs', ['--quiet', '--all-root', '-x-1', `-T${o.sourceDateEpoch}`, `-U${o.uuid}`, out, stage], { reject: false });
  if (r.exitCode !== 0) throw new ToolError(`mkfs.erofs failed: ${String(r.stderr || r.stdout).trim().split('\n').pop()}`);
}
