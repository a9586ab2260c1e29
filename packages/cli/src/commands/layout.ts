import { BUILTIN_LAYOUTS, diskPicture, formatBytes, loadLayout, planLayout, planRecord } from '@imgbuild/core';
import { checkLayoutArg } from '../args.js';
import { printJson } from '../output.js';
import { barLines, writeSvg } from '../picture.js';

export async function show(name: string, opts: { json?: boolean; svg?: string; force?: boolean }): Promise<void> {
  await checkLayoutArg(name);
  const plan = await loadLayout(name);
  const record = planRecord(plan);
  const pic = diskPicture(`layout ${plan.name}`, plan, record.partitions);
  if (opts.svg) await writeSvg(opts.svg, pic, !!opts.force);
  if (opts.json) return printJson(record);
  const lines = [
    `layout ${plan.name}${plan.description ? `: ${plan.description}` : ''}`,
    `disk ${plan.totalSectors} sectors of ${plan.sectorSize} bytes (${formatBytes(plan.diskBytes)}), alignment ${plan.alignmentSectors} sectors`,
    '',
    ...barLines(pic).slice(1),
    '',
    ' #  label        role        start      end        size        type',
  ];
  for (const p of plan.partitions) {
    lines.push(
      `${String(p.number).padStart(2)}  ${p.label.padEnd(12)} ${p.role.padEnd(11)} ${String(p.startLba).padEnd(10)} ${String(p.endLba).padEnd(10)} ${formatBytes(p.sizeBytes).padEnd(11)} ${p.typeAlias ?? p.type}`,
    );
  }
  if (opts.svg) lines.push('', `picture: ${opts.svg}`);
  process.stdout.write(lines.join('\n') + '\n');
}

/** The built-in layouts with the two sizes one picks a layout by: the whole disk and each /usr slot. */
export async function list(opts: { json?: boolean }): Promise<void> {
  const rows = Object.entries(BUILTIN_LAYOUTS).map(([name, spec]) => {
    const plan = planLayout(spec, name);
    const slot = plan.partitions.find((p) => p.role === 'usr-slot');
    return { name, diskBytes: plan.diskBytes, slotBytes: slot?.sizeBytes ?? null, description: spec.description ?? null };
  });
  if (opts.json) return printJson(rows);
  const size = (n: number | null) => (n === null ? '-' : formatBytes(n));
  const lines = [`${'name'.padEnd(14)} ${'disk'.padEnd(10)} ${'usr slot'.padEnd(10)} description`];
  for (const r of rows) lines.push(`${r.name.padEnd(14)} ${size(r.diskBytes).padEnd(10)} ${size(r.slotBytes).padEnd(10)} ${r.description ?? ''}`);
  process.stdout.write(lines.join('\n') + '\n');
}
