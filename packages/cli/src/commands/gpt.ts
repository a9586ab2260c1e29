import { basename } from 'node:path';
import { createGptImage, describeAttributes, diskPicture, gptReadRecord, partitionRecord, partitions, readGpt, repairGpt, roleInTable, slotStatus, typeName, type SlotStatus } from '@imgbuild/core';
import { checkLayoutArg } from '../args.js';
import { onImage } from '../on-image.js';
import { printJson } from '../output.js';
import { barLines, writeSvg } from '../picture.js';

export async function create(opts: { layout: string; seed?: string; output: string; force?: boolean; json?: boolean }): Promise<void> {
  await checkLayoutArg(opts.layout);
  const r = await createGptImage({ layout: opts.layout, seed: opts.seed, output: opts.output, force: !!opts.force });
  if (opts.json) return printJson({ output: opts.output, layout: r.plan.name, seed: r.seed, diskGuid: r.table.diskGuid, bytes: r.plan.diskBytes });
  process.stdout.write(`wrote ${opts.output}: layout ${r.plan.name}, ${r.plan.totalSectors} sectors, disk GUID ${r.table.diskGuid}\n`);
}

export async function show(image: string, opts: { json?: boolean; svg?: string; force?: boolean }): Promise<void> {
  return onImage(image, false, async (s) => {
    const r = await readGpt(s);
    const t = r.table;
    // The slots' states when the table has a slot pair; a plain GPT has none and is drawn without.
    let status: SlotStatus | undefined;
    try {
      status = slotStatus(t);
    } catch {
      status = undefined;
    }
    const parts = partitions(t).map((p) => ({
      ...partitionRecord(p, roleInTable(p)),
      typeAlias: typeName(p.type) ?? null,
      sectors: p.lastLba - p.firstLba + 1,
      attributeBits: describeAttributes(p.attributes),
    }));
    const pic = diskPicture(basename(image), t, parts, status);
    if (opts.svg) await writeSvg(opts.svg, pic, !!opts.force);
    if (opts.json) {
      return printJson({
        image,
        gpt: gptReadRecord(r),
        sectorSize: t.sectorSize,
        totalSectors: t.totalSectors,
        diskGuid: t.diskGuid,
        firstUsableLba: t.firstUsableLba,
        lastUsableLba: t.lastUsableLba,
        entryCount: t.entryCount,
        partitions: parts,
      });
    }
    const out = [
      `${image}: GPT read from the ${r.source} copy${r.needsRepair ? ' (needs repair: run imgbuild gpt repair)' : ''}`,
      ...(r.primaryError ? [`  primary: ${r.primaryError}`] : []),
      ...(r.backupError ? [`  backup: ${r.backupError}`] : []),
      `disk GUID ${t.diskGuid}, ${t.totalSectors} sectors of ${t.sectorSize} bytes, usable ${t.firstUsableLba}-${t.lastUsableLba}`,
      '',
      ...barLines(pic).slice(1),
      '',
      ' #  label        first      last       uuid                                  prio tries ok type',
    ];
    for (const p of parts) {
      const a = p.attributeBits;
      out.push(
        `${String(p.number).padStart(2)}  ${p.label.padEnd(12)} ${String(p.firstLba).padEnd(10)} ${String(p.lastLba).padEnd(10)} ${p.uuid}  ${String(a.priority).padStart(4)} ${String(a.tries).padStart(5)} ${a.successful ? ' 1' : ' 0'} ${p.typeAlias ?? p.type}`,
      );
    }
    if (opts.svg) out.push('', `picture: ${opts.svg}`);
    process.stdout.write(out.join('\n') + '\n');
  });
}

export async function repair(image: string, opts: { json?: boolean }): Promise<void> {
  const r = await onImage(image, true, (s) => repairGpt(s));
  if (opts.json) return printJson({ image, repaired: r.repaired, fixed: r.fixed, gpt: gptReadRecord(r.read) });
  process.stdout.write(r.repaired ? `${image}: repaired from the ${r.source} copy (${r.fixed.join('; ')})\n` : `${image}: both GPT copies are valid; nothing to do\n`);
}
