/**
 * `imgbuild slot ...`: each command is one slot transition plus one crash-safe GPT write.
 * Failed preconditions (SlotError) exit 1, malformed arguments (UsageError) exit 2; both via the
 * program's single catch, as one line naming the image.
 */
import {
  applySlotTransition,
  FileStorage,
  InputError,
  withRawImage,
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
  type GptTable,
  type NextResult,
  type Slot,
  type SlotBitsChange,
  type SlotInfo,
  type SlotStatus,
  type SlotTransitionResult,
  type TransitionOutput,
  type Variant,
} from '@imgbuild/core';
import { EXIT_FAILED, printJson } from '../output.js';

interface JsonOpt {
  json?: boolean;
}

const flag = (b: boolean) => (b ? 1 : 0);

/** A raw image, or a qemu_uefi bundle through a raw copy of its qcow2 (written back when changed). */
async function onImage<T>(image: string, fn: (s: FileStorage) => Promise<T>, writable = true): Promise<T> {
  return withRawImage(image, writable, async (raw) => {
    const s = await FileStorage.open(raw, writable).catch((e) => {
      const code = (e as NodeJS.ErrnoException).code;
      throw new InputError(code === 'ENOENT' ? 'no such file' : `cannot open image: ${(e as Error).message}`, { file: image });
    });
    try {
      return await fn(s);
    } finally {
      await s.close();
    }
  });
}

function slotJson(s: SlotInfo) {
  return { slot: s.slot, number: s.number, label: s.label, uuid: s.uuid, priority: s.priority, tries: s.tries, successful: s.successful, canBoot: s.canBoot };
}

function statusJson(st: SlotStatus) {
  return { slots: st.slots.map(slotJson), next: st.next };
}

function statusLines(st: SlotStatus): string[] {
  const lines = ['slot  #   label        priority  tries  successful  bootable  uuid'];
  for (const s of st.slots) {
    lines.push(
      `${s.slot.padEnd(4)}  ${String(s.number).padEnd(3)} ${s.label.padEnd(12)} ${String(s.priority).padEnd(9)} ${String(s.tries).padEnd(6)} ${String(flag(s.successful)).padEnd(11)} ${(s.canBoot ? 'yes' : 'no').padEnd(9)} ${s.uuid}`,
    );
  }
  lines.push(`next boot: ${st.next ?? 'none (no slot can boot)'}`);
  return lines;
}

/** `A: priority 1→2, tries 0, successful 1` — only what changed gets an arrow. */
function changeLine(a: SlotInfo, b: SlotInfo): string {
  const f = (name: string, x: number, y: number) => `${name} ${x === y ? x : `${x}→${y}`}`;
  return `  ${b.slot} (${b.label}): ${f('priority', a.priority, b.priority)}, ${f('tries', a.tries, b.tries)}, ${f('successful', flag(a.successful), flag(b.successful))}`;
}

function report<R extends TransitionOutput>(image: string, action: string, slot: Slot | null, r: SlotTransitionResult<R>, opts: JsonOpt): void {
  if (opts.json) {
    printJson({ image, action, slot, changed: r.changed, written: r.written, before: statusJson(r.before), after: statusJson(r.after) });
    return;
  }
  const lines = [`${image}: ${action}${slot ? ` ${slot}` : ''}${r.changed ? '' : ' (nothing changed)'}`];
  r.after.slots.forEach((s, i) => lines.push(changeLine(r.before.slots[i], s)));
  lines.push(`next boot: ${r.after.next ?? 'none (no slot can boot)'}`);
  process.stdout.write(lines.join('\n') + '\n');
}

/** Resolves the slot argument against the image's own table, then runs the transition. */
async function slotTransition(image: string, name: string, action: string, fn: (t: GptTable, slot: Slot) => GptTable, opts: JsonOpt): Promise<void> {
  let slot: Slot | undefined;
  const r = await onImage(image, (s) => applySlotTransition(s, (t) => fn(t, (slot = resolveSlot(t, name))), { file: image }));
  report(image, action, slot!, r, opts);
}

export async function status(image: string, opts: JsonOpt): Promise<void> {
  const { status: st } = await onImage(image, (s) => readSlotStatus(s, { file: image }), false);
  if (opts.json) return printJson({ image, ...statusJson(st) });
  process.stdout.write([`${image}:`, ...statusLines(st)].join('\n') + '\n');
}

export async function next(image: string, opts: JsonOpt & { variant?: string }): Promise<number | void> {
  const variant = (opts.variant ?? 'flatcar') as Variant;
  const r = await onImage(image, (s) => applySlotTransition(s, (t) => nextT(t, { variant }), { file: image }));
  const res: NextResult = r.result;
  const chosen = res.slot ? r.before.slots.find((s) => s.slot === res.slot)! : undefined;
  const after = res.slot ? r.after.slots.find((s) => s.slot === res.slot)! : undefined;
  if (opts.json) {
    printJson({
      image,
      variant,
      slot: res.slot,
      number: res.number,
      label: chosen?.label ?? null,
      uuid: chosen?.uuid ?? null,
      changed: r.changed,
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
    const detail = r.changed ? `tries ${chosen!.tries}→${after!.tries}${after!.priority !== chosen!.priority ? `, priority ${chosen!.priority}→${after!.priority}` : ''}` : 'nothing changed';
    process.stdout.write(`${res.slot}\n`);
    process.stderr.write(`${image}: booting ${res.slot} (${chosen!.label}, partition ${chosen!.number}, PARTUUID=${chosen!.uuid}); ${detail}\n`);
  }
}

export async function prioritize(image: string, name: string, opts: JsonOpt): Promise<void> {
  await slotTransition(image, name, 'prioritize', prioritizeT, opts);
}

export async function markSuccessful(image: string, name: string, opts: JsonOpt): Promise<void> {
  await slotTransition(image, name, 'mark-successful', markSuccessfulT, opts);
}

export async function upgrade(image: string, name: string, opts: JsonOpt): Promise<void> {
  await slotTransition(image, name, 'upgrade', upgradeT, opts);
}

export async function rollback(image: string, opts: JsonOpt): Promise<void> {
  const r = await onImage(image, (s) => applySlotTransition(s, rollbackT, { file: image }));
  report(image, 'rollback to', r.after.next, r, opts);
}

export async function cancelUpgrade(image: string, opts: JsonOpt): Promise<void> {
  const r = await onImage(image, (s) => applySlotTransition(s, cancelUpgradeT, { file: image }));
  report(image, 'cancel-upgrade', null, r, opts);
}

function nibble(image: string, value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) > 15) throw new UsageError(`--${name} must be an integer 0-15, got "${value}"`, { file: image });
  return Number(value);
}

export async function set(image: string, name: string, opts: JsonOpt & { priority?: string; tries?: string; successful?: string }): Promise<void> {
  const change: SlotBitsChange = { priority: nibble(image, opts.priority, 'priority'), tries: nibble(image, opts.tries, 'tries') };
  if (opts.successful !== undefined) {
    if (opts.successful !== '0' && opts.successful !== '1') throw new UsageError(`--successful must be 0 or 1, got "${opts.successful}"`, { file: image });
    change.successful = opts.successful === '1';
  }
  if (opts.priority === undefined && opts.tries === undefined && opts.successful === undefined) {
    throw new UsageError('nothing to set: give --priority, --tries and/or --successful', { file: image });
  }
  await slotTransition(image, name, 'set', (t, slot) => setSlotBits(t, slot, change), opts);
}
