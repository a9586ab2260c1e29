/**
 * A layout against the image's architecture: a UAPI per-architecture type (`usr-x86-64`,
 * `root-arm64-verity`, ...) of another machine would let systemd's partition discovery on the booted
 * image ignore that partition, so a build refuses it and names the type to use. Architecture-neutral
 * types (the ESP, Flatcar's USR, linux-data) fit every architecture.
 */
import { ARCHITECTURE_TABLE, archOfPartitionType, type Architecture } from '../arch.js';
import { UsageError } from '../errors.js';
import { typeName } from '../gpt/types.js';
import type { LayoutPlan } from './plan.js';

export function checkLayoutArchitecture(plan: LayoutPlan, arch: Architecture, source: string = plan.name): void {
  for (const p of plan.partitions) {
    const own = archOfPartitionType(p.type);
    if (!own || own === arch) continue;
    const role = (Object.keys(ARCHITECTURE_TABLE[own].partitionTypes) as Array<keyof (typeof ARCHITECTURE_TABLE)[Architecture]['partitionTypes']>).find(
      (k) => ARCHITECTURE_TABLE[own].partitionTypes[k] === p.type,
    )!;
    const instead = ARCHITECTURE_TABLE[arch].partitionTypes[role];
    throw new UsageError(`${source}: partition ${p.number} (${p.label}) has type ${typeName(p.type) ?? p.type}, an ${own} type, but the image is ${arch}: use ${typeName(instead) ?? instead}`);
  }
}
