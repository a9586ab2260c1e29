/**
 * What `build --dry-run` prints: the build's plan once every input has been read and checked, before
 * anything is written. Built from the same values `buildImage` goes on to write.
 */
import { basename } from 'node:path';
import type { EspFile } from '../boot/index.js';
import type { PartitionRecord } from '../gpt/record.js';
import { plannedPartitionRecord, planRecord } from '../layout/record.js';
import type { LayoutPlan, PlannedPartition } from '../layout/plan.js';
import { bundlePaths } from '../qemu/bundle.js';
import type { Architecture } from '../arch.js';

export interface BuildPlan {
  dryRun: true;
  format: 'raw' | 'qemu_uefi';
  /** The machine the image would boot on. */
  architecture: Architecture;
  output: string;
  /** Every file the build would create (a raw image and its manifest, or the bundle's files). */
  files: string[];
  layout: ReturnType<typeof planRecord>;
  /** The slot a build fills, and its partition. */
  slot: 'A';
  partition: PartitionRecord;
  usr: { path: string; bytes: number; fsType: string };
  /** The ESP's files as they will be (sizes final; the UKI's root hash is a stand-in of the same length). */
  espFiles: Array<{ path: string; bytes: number }>;
  signed: boolean;
  secureBoot: boolean;
}

export function buildPlan(o: {
  format: 'raw' | 'qemu_uefi';
  architecture: Architecture;
  output: string;
  manifestPath: string;
  plan: LayoutPlan;
  slotA: PlannedPartition;
  usr: { path: string; bytes: number; fsType: string };
  espFiles: EspFile[];
  signed: boolean;
  secureBoot: boolean;
}): BuildPlan {
  const b = bundlePaths(o.output, basename(o.output));
  return {
    dryRun: true,
    format: o.format,
    architecture: o.architecture,
    output: o.output,
    files: o.format === 'raw' ? [o.output, o.manifestPath] : [b.qcow2, b.code, b.vars, b.script, b.manifest],
    layout: planRecord(o.plan),
    slot: 'A',
    partition: plannedPartitionRecord(o.slotA),
    usr: o.usr,
    espFiles: o.espFiles.map((f) => ({ path: f.path, bytes: f.data.length })),
    signed: o.signed,
    secureBoot: o.secureBoot,
  };
}
