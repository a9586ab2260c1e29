/** `build --root-tree`: which partition becomes ROOT, and what the manifest records of it. */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { basename } from 'node:path';
import { UsageError } from '../errors.js';
import type { LayoutPlan, PlannedPartition } from '../layout/plan.js';
import { checkRootTree, writeRootFs } from './ext4.js';

export { checkRootTree };

/** The layout's one partition with role `root`; UsageError naming the layout otherwise. */
export function rootPartition(plan: LayoutPlan, source: string): PlannedPartition {
  const roots = plan.partitions.filter((p) => p.role === 'root');
  if (roots.length !== 1) throw new UsageError(`--root-tree needs exactly one partition with role "root" in layout ${source}; it has ${roots.length}`);
  return roots[0];
}

export interface RootFsRecord {
  number: number;
  partuuid: string;
  fsType: 'ext4';
  fsUuid: string;
  /** The tree's folder name, for the reader; its contents are in sha256. */
  tree: string;
  /** The partition as built (it changes from the first boot on: `verify` reports it as not covered). */
  sha256: string;
  bytes: number;
}

export async function writeRootFsRecorded(o: { imagePath: string; partition: PlannedPartition; partuuid: string; tree: string; seed: string; sourceDateEpoch: number }): Promise<RootFsRecord> {
  const { offsetBytes, sizeBytes } = o.partition;
  const r = await writeRootFs({ imagePath: o.imagePath, offsetBytes, sizeBytes, tree: o.tree, seed: o.seed, sourceDateEpoch: o.sourceDateEpoch, label: o.partition.label });
  return {
    number: o.partition.number,
    partuuid: o.partuuid,
    fsType: 'ext4',
    fsUuid: r.fsUuid,
    tree: basename(o.tree),
    sha256: await sha256Range(o.imagePath, offsetBytes, sizeBytes),
    bytes: sizeBytes,
  };
}

async function sha256Range(path: string, offset: number, length: number): Promise<string> {
  const h = createHash('sha256');
  const fh = await fsp.open(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(8 << 20);
    for (let done = 0; done < length; ) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, length - done), offset + done);
      if (!bytesRead) throw new Error(`${path}: short read at ${offset + done}`);
      h.update(buf.subarray(0, bytesRead));
      done += bytesRead;
    }
  } finally {
    await fh.close();
  }
  return h.digest('hex');
}
