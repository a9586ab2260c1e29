import { BUILTIN_LAYOUTS, formatBytes, loadLayout, planLayout, type LayoutPlan } from '@imgbuild/core';
import { checkLayoutArg } from '../args.js';
import { printJson } from '../output.js';

export function planToJson(plan: LayoutPlan) {
  return {
    name: plan.name,
    description: plan.description,
    sectorSize: plan.sectorSize,
    alignmentSectors: plan.alignmentSectors,
    totalSectors: plan.totalSectors,
    diskBytes: plan.diskBytes,
    firstUsableLba: plan.firstUsableLba,
    lastUsableLba: plan.lastUsableLba,
    partitions: plan.partitions.map((p) => ({
      number: p.number,
      label: p.label,
      type: p.type,
      typeAlias: p.typeAlias,
      uuid: p.uuid ?? null,
      role: p.role,
      slot: p.slot ?? null,
      startLba: p.startLba,
      endLba: p.endLba,
      sectors: p.sectors,
      offsetBytes: p.offsetBytes,
      sizeBytes: p.sizeBytes,
      attributes: '0x' + p.attributes.toString(16).padStart(16, '0'),
    })),
  };
}

export async function show(name: string, opts: { json?: boolean }): Promise<void> {
  await checkLayoutArg(name);
  const plan = await loadLayout(name);
  if (opts.json) return printJson(planToJson(plan));
  const lines = [
    `layout ${plan.name}${plan.description ? `: ${plan.description}` : ''}`,
    `disk ${plan.totalSectors} sectors of ${plan.sectorSize} bytes (${formatBytes(plan.diskBytes)}), alignment ${plan.alignmentSectors} sectors`,
    '',
    ' #  label        role        start      end        size        type',
  ];
  for (const p of plan.partitions) {
    lines.push(
      `${String(p.number).padStart(2)}  ${p.label.padEnd(12)} ${p.role.padEnd(11)} ${String(p.startLba).padEnd(10)} ${String(p.endLba).padEnd(10)} ${formatBytes(p.sizeBytes).padEnd(11)} ${p.typeAlias ?? p.type}`,
    );
  }
  process.stdout.write(lines.join('\n') + '\n');
}

/** The built-in layouts with the two sizes one picks a layout by: the whole disk and each /usr slot. */
export async function list(opts: { json?: boolean }): Promise<void> {
  const rows = Object.entries(BUILTIN_LAYOUTS).map(([name, spec]) => {
    const plan = planLayout(spec, name);
    const slot = plan.partitions.find((p) => p.role === 'usr-slot');
    return { name, diskBytes: plan.diskBytes, slotBytes: slot?.sizeBytes ?? null, description: spec.description ?? '' };
  });
  if (opts.json) return printJson(rows);
  const size = (n: number | null) => (n === null ? '-' : formatBytes(n));
  const lines = [`${'name'.padEnd(14)} ${'disk'.padEnd(10)} ${'usr slot'.padEnd(10)} description`];
  for (const r of rows) lines.push(`${r.name.padEnd(14)} ${size(r.diskBytes).padEnd(10)} ${size(r.slotBytes).padEnd(10)} ${r.description}`);
  process.stdout.write(lines.join('\n') + '\n');
}
