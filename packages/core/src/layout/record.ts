/** A layout plan as JSON (`layout show --json`): its partitions in the common vocabulary (gpt/record.ts). */
import { attributesHex, type PartitionRecord } from '../gpt/record.js';
import type { LayoutPlan, PlannedPartition } from './plan.js';

/** A planned partition: the common keys, then what only a plan knows (its byte range, its slot). */
export function plannedPartitionRecord(p: PlannedPartition) {
  const common: PartitionRecord = {
    number: p.number,
    uuid: p.uuid ?? null,
    label: p.label,
    type: p.type,
    firstLba: p.startLba,
    lastLba: p.endLba,
    attributes: attributesHex(p.attributes),
    role: p.role,
  };
  return {
    ...common,
    role: p.role,
    typeAlias: p.typeAlias ?? null,
    slot: p.slot ?? null,
    sectors: p.sectors,
    offsetBytes: p.offsetBytes,
    sizeBytes: p.sizeBytes,
  };
}

/**
 * A plan in the JSON vocabulary `imgbuild layout show --json` prints: the disk and every partition
 * (the common keys of {@link PartitionRecord}, then its byte range and slot).
 *
 * @example
 * ```ts
 * const rec = planRecord(await loadLayout('flatcar'));
 * console.log(rec.partitions.map((p) => `${p.number} ${p.label} ${p.firstLba}-${p.lastLba}`).join('\n'));
 * ```
 */
export function planRecord(plan: LayoutPlan) {
  return {
    name: plan.name,
    description: plan.description ?? null,
    sectorSize: plan.sectorSize,
    alignmentSectors: plan.alignmentSectors,
    totalSectors: plan.totalSectors,
    diskBytes: plan.diskBytes,
    firstUsableLba: plan.firstUsableLba,
    lastUsableLba: plan.lastUsableLba,
    partitions: plan.partitions.map(plannedPartitionRecord),
  };
}
