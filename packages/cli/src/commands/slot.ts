/**
 * `imgbuild slot ...`: each command is one slot transition plus one crash-safe GPT write.
 * Failed preconditions (SlotError) exit 1, malformed arguments (UsageError) exit 2; both via the
 * program's single catch, as one line naming the image.
 */
import { promises as fsp } from 'node:fs';
import {
  applySlotTransition,
  diskPicture,
  partitionRecord,
  partitions,
  roleInTable,
  slotStatusRecord,
  findBundle,
  gptReadRecord,
  manifestPathFor,
  cancelUpgrade as cancelUpgradeT,
  markSuccessful as markSuccessfulT,
  next as nextT,
  prioritize as prioritizeT,
  readSlotStatus,
  resolveSlot,
  rollback as rollbackT,
  setSlotBits,
  upgrade as upgradeT,
  UsageError,
  type GptReadResult,
  type GptTable,
  type GuardOptions,
  type NextResult,
  type SlotImageOptions,
  type Slot,
  type SlotBitsChange,
  type SlotInfo,
  type SlotStatus,
  type SlotTransitionResult,
  type TransitionOutput,
  type Variant,
} from '@imgbuild/core';
import { basename } from 'node:path';
import { onImage } from '../on-image.js';
import { barLines, writeSvg } from '../picture.js';
import { EXIT_FAILED, printJson } from '../output.js';

interface JsonOpt {
  json?: boolean;
  /** Show the before/after state and write nothing. */
  dryRun?: boolean;
}

interface ForceOpt extends JsonOpt {
  force?: boolean;
}

const flag = (b: boolean) => (b ? 1 : 0);

/**
 * The manifest beside the image (or in the bundle), if any: a slot with no root hash in it counts as
 * empty. An unreadable manifest is no evidence either way; the superblock check still applies.
 */
async function manifestBeside(image: string): Promise<SlotImageOptions['manifest']> {
  try {
    const st = await fsp.stat(image);
    const path = st.isDirectory() ? (await findBundle(image)).manifest : manifestPathFor(image);
    const m = JSON.parse(await fsp.readFile(path, 'utf8'));
    if (m && typeof m === 'object' && m.slots && typeof m.slots === 'object') return { path, slots: m.slots };
  } catch {
    // no manifest, or not one of ours
  }
  return undefined;
}

/** The GPT as read: which copy, and whether `imgbuild gpt repair` is needed. */
const gptJson = gptReadRecord;

function gptLines(image: string, read: GptReadResult): string[] {
  if (!read.needsRepair && read.source === 'primary') return [];
  const g = gptJson(read);
  return [`warning: GPT read from the ${g.source} copy${g.needsRepair ? `; run imgbuild gpt repair ${image}` : ''}${g.problems.length ? ` (${g.problems.join('; ')})` : ''}`];
}

const statusJson = slotStatusRecord;

function statusLines(st: SlotStatus): string[] {
  const lines = ['slot  #   label        priority  tries  successful  attempts  bootable  uuid'];
  for (const s of st.slots) {
    lines.push(
      `${s.slot.padEnd(4)}  ${String(s.number).padEnd(3)} ${s.label.padEnd(12)} ${String(s.priority).padEnd(9)} ${String(s.tries).padEnd(6)} ${String(flag(s.successful)).padEnd(11)} ${(s.demoted ? 'demoted' : String(s.attempts)).padEnd(9)} ${(s.canBoot && !s.demoted ? 'yes' : 'no').padEnd(9)} ${s.uuid}`,
    );
  }
  for (const s of st.slots.filter((x) => x.demoted)) {
    lines.push(`slot ${s.slot} demoted by the selector: its last boots never became healthy (a healthy boot, slot mark-successful, slot upgrade or slot set --attempts 0 clears it)`);
  }
  lines.push(`next boot: ${st.next ?? 'none (no slot can boot; the selector starts the least bad)'}`);
  return lines;
}

/** `A: priority 1→2, tries 0, successful 1` — only what changed gets an arrow. */
function changeLine(a: SlotInfo, b: SlotInfo): string {
  const f = (name: string, x: number, y: number) => `${name} ${x === y ? x : `${x}→${y}`}`;
  return `  ${b.slot} (${b.label}): ${f('priority', a.priority, b.priority)}, ${f('tries', a.tries, b.tries)}, ${f('successful', flag(a.successful), flag(b.successful))}`;
}

function report<R extends TransitionOutput>(image: string, action: string, slot: Slot | null, r: SlotTransitionResult<R>, opts: JsonOpt): void {
  if (opts.json) {
    printJson({ image, action, slot, dryRun: !!opts.dryRun, changed: r.changed, written: r.written, before: statusJson(r.before), after: statusJson(r.after) });
    return;
  }
  const dry = opts.dryRun ? ' (dry run: nothing written)' : '';
  const lines = [`${image}: ${action}${slot ? ` ${slot}` : ''}${r.changed ? '' : ' (nothing changed)'}${dry}`];
  r.after.slots.forEach((s, i) => lines.push(changeLine(r.before.slots[i], s)));
  lines.push(`next boot: ${r.after.next ?? 'none (no slot can boot)'}`);
  // Only a forced transition gets here with its slot not next: say why, rather than let the verb's
  // name suggest otherwise.
  const target = slot ? r.after.slots.find((s) => s.slot === slot) : undefined;
  if (target && (action === 'prioritize' || action === 'mark-successful') && r.after.next !== slot) {
    lines.push(`note: ${slot} is not next: it cannot boot (priority ${target.priority}, tries ${target.tries}, successful ${flag(target.successful)})`);
  }
  process.stdout.write(lines.join('\n') + '\n');
}

/**
 * Resolves the slot argument against the image's own table, then runs the transition with the guard
 * facts: what each slot holds (superblock, manifest) and --force.
 */
async function slotTransition(
  image: string,
  name: string,
  action: string,
  fn: (t: GptTable, slot: Slot, g: GuardOptions) => GptTable,
  opts: ForceOpt,
): Promise<void> {
  let slot: Slot | undefined;
  const manifest = await manifestBeside(image);
  const r = await onImage(image, !opts.dryRun, (s) =>
    applySlotTransition(s, (t, facts) => fn(t, (slot = resolveSlot(t, name)), { contents: facts.contents, force: !!opts.force }), { file: image, manifest, dryRun: !!opts.dryRun }),
  );
  report(image, action, slot!, r, opts);
}

export async function status(image: string, opts: JsonOpt & { svg?: string; force?: boolean }): Promise<void> {
  const { status: st, read, table } = await onImage(image, false, (s) => readSlotStatus(s, { file: image }));
  const parts = partitions(table).map((p) => partitionRecord(p, roleInTable(p)));
  const pic = diskPicture(basename(image), table, parts, st);
  if (opts.svg) await writeSvg(opts.svg, pic, !!opts.force);
  if (opts.json) return printJson({ image, ...statusJson(st), gpt: gptJson(read) });
  const bar = barLines(pic).slice(1);
  const svgLine = opts.svg ? ['', `picture: ${opts.svg}`] : [];
  process.stdout.write([`${image}:`, ...gptLines(image, read), ...bar, '', ...statusLines(st), ...svgLine].join('\n') + '\n');
}

export async function next(image: string, opts: JsonOpt & { variant?: string }): Promise<number | void> {
  const variant = (opts.variant ?? 'flatcar') as Variant;
  const r = await onImage(image, !opts.dryRun, (s) => applySlotTransition(s, (t) => nextT(t, { variant }), { file: image, dryRun: !!opts.dryRun }));
  const res: NextResult = r.result;
  const chosen = res.slot ? r.before.slots.find((s) => s.slot === res.slot)! : undefined;
  const after = res.slot ? r.after.slots.find((s) => s.slot === res.slot)! : undefined;
  if (opts.json) {
    printJson({
      image,
      action: 'next',
      variant,
      dryRun: !!opts.dryRun,
      slot: res.slot,
      number: res.number,
      label: chosen?.label ?? null,
      uuid: chosen?.uuid ?? null,
      pick: res.pick,
      demoted: res.demoted,
      changed: r.changed,
      written: r.written,
      before: statusJson(r.before),
      after: statusJson(r.after),
    });
  }
  if (!res.slot) {
    const why = r.before.slots.map((s) => `${s.slot}: priority ${s.priority}, tries ${s.tries}, successful ${flag(s.successful)}`).join('; ');
    process.stderr.write(`imgbuild: ${image}: no slot can boot (${why})\n`);
    return EXIT_FAILED;
  }
  if (!opts.json) {
    const detail = (opts.dryRun ? 'dry run, nothing written; ' : '') + (r.changed ? `tries ${chosen!.tries}→${after!.tries}${after!.priority !== chosen!.priority ? `, priority ${chosen!.priority}→${after!.priority}` : ''}, attempts ${chosen!.attempts}→${after!.attempts}` : 'nothing changed');
    for (const d of res.demoted) process.stderr.write(`${image}: slot ${d} demoted: its last boots never became healthy\n`);
    if (res.pick === 'least-bad') process.stderr.write(`${image}: no slot can boot by the rules; the selector starts the least bad\n`);
    process.stdout.write(`${res.slot}\n`);
    process.stderr.write(`${image}: booting ${res.slot} (${chosen!.label}, partition ${chosen!.number}, PARTUUID=${chosen!.uuid}); ${detail}\n`);
  }
}

export async function prioritize(image: string, name: string, opts: ForceOpt): Promise<void> {
  await slotTransition(image, name, 'prioritize', prioritizeT, opts);
}

export async function markSuccessful(image: string, name: string, opts: ForceOpt): Promise<void> {
  await slotTransition(image, name, 'mark-successful', markSuccessfulT, opts);
}

export async function upgrade(image: string, name: string, opts: JsonOpt): Promise<void> {
  await slotTransition(image, name, 'upgrade', upgradeT, opts);
}

export async function rollback(image: string, opts: JsonOpt): Promise<void> {
  const r = await onImage(image, !opts.dryRun, (s) => applySlotTransition(s, rollbackT, { file: image, dryRun: !!opts.dryRun }));
  report(image, 'rollback to', r.after.next, r, opts);
}

export async function cancelUpgrade(image: string, opts: JsonOpt): Promise<void> {
  const r = await onImage(image, !opts.dryRun, (s) => applySlotTransition(s, cancelUpgradeT, { file: image, dryRun: !!opts.dryRun }));
  report(image, 'cancel-upgrade', null, r, opts);
}

/** The flags arrive parsed and range-checked (parse.ts). */
export async function set(image: string, name: string, opts: ForceOpt & { priority?: number; tries?: number; successful?: boolean; attempts?: number }): Promise<void> {
  const change: SlotBitsChange = { priority: opts.priority, tries: opts.tries, successful: opts.successful, attempts: opts.attempts };
  if (opts.priority === undefined && opts.tries === undefined && opts.successful === undefined && opts.attempts === undefined) {
    throw new UsageError('nothing to set: give --priority, --tries, --successful and/or --attempts', { file: image });
  }
  await slotTransition(image, name, 'set', (t, slot, g) => setSlotBits(t, slot, change, g), opts);
}
