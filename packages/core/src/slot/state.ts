/**
 * The A/B slots as an in-memory GPT shows them: which partitions are the slots, their boot bits, which
 * one boots next and why. Pure: no I/O (reading and writing a disk's table is image.ts).
 *
 * The slots are the partitions whose type is a /usr type (flatcar-usr, usr-x86-64 or usr-arm64) and
 * whose label ends in -A / -B (or _A / _B). Table order (= partition number order) breaks priority ties.
 *
 * Boot bits per slot: priority (0-15, 0 = never boot), tries (0-15), successful. A slot can boot when
 * priority > 0 and (tries > 0 or successful). The slot that boots next is the highest-priority bootable
 * slot, the lower partition number on a tie (Flatcar GRUB gptprio.next; vboot's kernel selection is
 * the same). That slot is called "active"; the other is "inactive", where an updater writes.
 *
 * The transitions, verbs over this table with guards, are in transitions.ts.
 *
 * "Filled" is a fact of the disk, not of the table: the caller reads it (readSlotContents in image.ts)
 * and passes it as `contents`; a slot whose content is unknown is taken as filled. A slot that holds
 * no /usr and is made to boot fails at every boot, so the guards that would make one boot refuse it.
 * `force` skips the guards of prioritize, markSuccessful and setSlotBits (a raw tool for repairs).
 */
import { ARCHITECTURES, ARCHITECTURE_TABLE } from '../arch.js';
import { SlotError, UsageError } from '../errors.js';
import { canBoot, getAttempts, getBootBits, ATTEMPTS_DEMOTED, type BootBits } from '../gpt/attributes.js';
import type { GptEntry } from '../gpt/entry.js';
import { partitionRecord } from '../gpt/record.js';
import { type GptTable } from '../gpt/table.js';
import { TYPE_ALIASES } from '../gpt/types.js';
import { slotOfLabel, type Slot } from '../layout/plan.js';

export type { Slot };
export const SLOTS: readonly Slot[] = ['A', 'B'];
/**
 * Whose boot-time selection rules {@link next} follows: Flatcar's (GRUB gptprio.next, with imgbuild's
 * attempt counting, as the UEFI selector does) or ChromeOS's (vboot).
 *
 * @example
 * ```ts
 * next(table, { variant: 'chromeos' }); // a successful slot: nothing changes
 * ```
 */
export type Variant = 'flatcar' | 'chromeos';

/** Partition types that hold a /usr slot. */
export const SLOT_TYPES: readonly string[] = [TYPE_ALIASES['flatcar-usr'], ...ARCHITECTURES.map((a) => ARCHITECTURE_TABLE[a].partitionTypes.usr)];

export function otherSlot(s: Slot): Slot {
  return s === 'A' ? 'B' : 'A';
}

/**
 * One slot as read from the table.
 *
 * @example
 * ```ts
 * const { status } = await readSlotStatus('disk.raw');
 * const a: SlotInfo = status.slots[0];
 * console.log(a.slot, a.priority, a.tries, a.successful, a.canBoot); // A 1 0 true true
 * ```
 */
export interface SlotInfo extends BootBits {
  slot: Slot;
  /** Partition number (1-based). */
  number: number;
  label: string;
  uuid: string;
  type: string;
  firstLba: number;
  lastLba: number;
  /** All 64 attribute bits, the boot bits among them. */
  attributes: bigint;
  canBoot: boolean;
  /** Boots started since the last healthy one (slot/attempts.ts); 7 once demoted. */
  attempts: number;
  /** The selector gave up on this slot: its last N boots never became healthy. */
  demoted: boolean;
  /** Found by type and table order: its label names a version (`<name>_<version>`) or `_empty`. */
  versioned: boolean;
  /** Labelled `_empty` (versioned slots only): holds no version, or one being written; never boots. */
  empty: boolean;
}

/**
 * The boot state of both slots, and which one boots next.
 *
 * @example
 * ```ts
 * const { status } = await readSlotStatus('disk.raw');
 * console.log(status.next, status.slots.map((s) => s.label)); // 'A' ['USR-A', 'USR-B']
 * ```
 */
export interface SlotStatus {
  /** Both slots, in table order. */
  slots: SlotInfo[];
  /** The slot `next` would choose (without changing anything), or null when none can boot. */
  next: Slot | null;
}

/**
 * What a slot partition holds, which its bits cannot tell: read from the disk by the caller.
 *
 * @example
 * ```ts
 * await applySlotTransition('disk.raw', (t, facts) => {
 *   const b: SlotContent | undefined = facts.contents.B;
 *   if (b && !b.filled) console.log(`slot B is empty: ${b.reason}`);
 *   return t;
 * });
 * ```
 */
export interface SlotContent {
  /** The slot holds a /usr (a verity superblock at its hash offset; a root hash in the manifest, if any). */
  filled: boolean;
  /** Why it counts as empty, for the error: e.g. "no verity superblock at byte 130023424 of partition 4". */
  reason?: string;
}
/**
 * What each slot holds, for the guards that refuse to make an empty slot boot.
 *
 * @example
 * ```ts
 * const contents: SlotContents = { B: { filled: false, reason: 'never written' } };
 * prioritize(table, 'B', { contents }); // SlotError: slot B holds no /usr
 * ```
 */
export type SlotContents = Partial<Record<Slot, SlotContent>>;

/**
 * Facts and permissions for the guards that need more than the table.
 *
 * @example
 * ```ts
 * // Make slot B boot next even though it cannot boot on its own (a repair)
 * prioritize(table, 'B', { force: true });
 * ```
 */
export interface GuardOptions {
  /** What each slot holds; a slot not listed is taken as filled. */
  contents?: SlotContents;
  /** Skip the guards of prioritize, markSuccessful and setSlotBits. */
  force?: boolean;
}

export const bitsText = (b: BootBits) => `priority ${b.priority}, tries ${b.tries}, successful ${b.successful ? 1 : 0}`;
export const describe = (s: SlotInfo) => `${s.slot} (${s.label}, partition ${s.number}: ${bitsText(s)}${s.demoted ? ', demoted' : ''})`;

/** systemd-sysupdate's label of a slot no version occupies (or one being written): never booted. */
export const EMPTY_SLOT_LABEL = '_empty';

/**
 * The two slot partitions of a table, in table order. Slots are the /usr-typed partitions labelled
 * ...-A / ...-B (Flatcar's USR-A, USR-B); failing that, when the table has exactly two /usr-typed
 * partitions and neither is so labelled (systemd-sysupdate's `<name>_<version>` and `_empty`), the
 * first in table order is A and the second B: "versioned" slots. The selector finds them by the same
 * rules (packages/efi-select/src/gptprio.c). SlotError when neither rule finds one A and one B.
 */
export function findSlots(table: GptTable): SlotInfo[] {
  const info = (e: GptEntry, i: number, slot: Slot, versioned: boolean): SlotInfo => {
    const bits = getBootBits(e.attributes);
    const attempts = getAttempts(e.attributes);
    const empty = versioned && e.name === EMPTY_SLOT_LABEL;
    return { slot, number: i + 1, label: e.name, uuid: e.uuid, type: e.type, firstLba: e.firstLba, lastLba: e.lastLba, attributes: e.attributes, ...bits, canBoot: canBoot(bits) && !empty, attempts, demoted: attempts === ATTEMPTS_DEMOTED, versioned, empty };
  };
  const usr = table.entries.map((e, i) => ({ e, i })).filter(({ e }) => SLOT_TYPES.includes(e.type));
  if (usr.length === 2 && usr.every(({ e }) => !slotOfLabel(e.name))) return usr.map(({ e, i }, k) => info(e, i, SLOTS[k], true));
  const found: SlotInfo[] = [];
  for (const { e, i } of usr) {
    const slot = slotOfLabel(e.name);
    if (!slot) continue;
    const other = found.find((f) => f.slot === slot);
    if (other) throw new SlotError(`two partitions are slot ${slot}: ${other.number} (${other.label}) and ${i + 1} (${e.name})`);
    found.push(info(e, i, slot, false));
  }
  for (const s of SLOTS) {
    if (!found.some((f) => f.slot === s)) {
      throw new SlotError(`no slot ${s}: need a /usr partition (type flatcar-usr, usr-x86-64 or usr-arm64) labelled ...-${s}, or exactly two /usr partitions labelled by version (<name>_<version>, _empty)`);
    }
  }
  return found;
}

/**
 * A slot in the common JSON vocabulary (partitionRecord) with its boot bits decoded: what the `slot`
 * verbs and `update` print for each slot, before and after.
 */
export function slotRecord(s: SlotInfo) {
  const p = partitionRecord({ number: s.number, uuid: s.uuid, name: s.label, type: s.type, firstLba: s.firstLba, lastLba: s.lastLba, attributes: s.attributes }, 'usr-slot');
  return { ...p, slot: s.slot, priority: s.priority, tries: s.tries, successful: s.successful, canBoot: s.canBoot, attempts: s.attempts, demoted: s.demoted };
}

/**
 * A slot status as JSON: both slots (slotRecord) and the one that boots next.
 *
 * @example
 * ```ts
 * const { status } = await readSlotStatus('disk.raw');
 * console.log(JSON.stringify(slotStatusRecord(status))); // {"slots":[{"number":3,…,"slot":"A","priority":1,…}],"next":"A"}
 * ```
 */
export function slotStatusRecord(st: SlotStatus) {
  return { slots: st.slots.map(slotRecord), next: st.next };
}

/**
 * What the table alone says a partition is for: the ESP by its type, a slot by type and label; else null.
 *
 * @example
 * ```ts
 * const { table } = await readSlotStatus('disk.raw');
 * table.entries.map((e) => roleInTable(e)); // ['esp', null, 'usr-slot', 'usr-slot', …]
 * ```
 */
export function roleInTable(p: Pick<GptEntry, 'type' | 'name'>): string | null {
  if (p.type === TYPE_ALIASES.efi) return 'esp';
  if (SLOT_TYPES.includes(p.type) && (slotOfLabel(p.name) || p.name === EMPTY_SLOT_LABEL || /_[^_]+$/.test(p.name))) return 'usr-slot';
  return null;
}

/**
 * Where a slot's partition lies in the image, in bytes: what a reader of its /usr and hash tree needs.
 *
 * @example
 * ```ts
 * const { table } = await readSlotStatus('disk.raw');
 * const b = slotBytes(table, 'B');
 * console.log(`slot B is partition ${b.number}: ${b.sizeBytes} bytes at ${b.offsetBytes}`);
 * ```
 */
export function slotBytes(table: GptTable, slot: Slot): { number: number; offsetBytes: number; sizeBytes: number } {
  const s = slotInfo(table, slot);
  return { number: s.number, offsetBytes: s.firstLba * table.sectorSize, sizeBytes: (s.lastLba - s.firstLba + 1) * table.sectorSize };
}

export function slotInfo(table: GptTable, slot: Slot): SlotInfo {
  const found = findSlots(table).find((s) => s.slot === slot);
  // `slot` is typed, but a program may pass anything; resolveSlot reads names a user typed
  if (!found) throw new UsageError(`unknown slot ${JSON.stringify(slot)} (expected A or B)`);
  return found;
}

/**
 * Highest priority among bootable slots; the lower partition number wins a tie (gptprio.next). A slot
 * the selector demoted is passed over (slot/attempts.ts).
 */
export function choose(slots: SlotInfo[]): SlotInfo | undefined {
  let best: SlotInfo | undefined;
  for (const s of slots) if (s.canBoot && !s.demoted && s.priority > (best?.priority ?? 0)) best = s;
  return best;
}

/**
 * The boot state of a GPT's two slots: each slot's bits and the slot that boots next. Pure.
 *
 * @example
 * ```ts
 * const { table } = await readSlotStatus('disk.raw');
 * slotStatus(upgrade(table, 'B')).next; // 'B'
 * ```
 */
export function slotStatus(table: GptTable): SlotStatus {
  const slots = findSlots(table);
  return { slots, next: choose(slots)?.slot ?? null };
}

/** The slot that boots next ("active"), or null when none can boot. */
export function activeSlot(table: GptTable): Slot | null {
  return slotStatus(table).next;
}

/** The slot that does not boot next: where an updater writes. SlotError when no slot can boot. */
export function inactiveSlot(table: GptTable): Slot {
  const st = slotStatus(table);
  if (!st.next) throw new SlotError(`no slot can boot, so none is active: ${st.slots.map(describe).join('; ')}`);
  return otherSlot(st.next);
}

/**
 * Why a freshly built image with this table could not boot as intended, or null: slot A must be the
 * one chosen, and slot B, empty at build time, must not be bootable (the selector would fall back
 * to nothing, or choose it first).
 */
export function freshImageProblem(table: GptTable): string | null {
  const st = slotStatus(table);
  const [a, b] = (['A', 'B'] as const).map((x) => st.slots.find((s) => s.slot === x)!);
  if (b.canBoot) return `slot B is empty in a fresh image but its attributes make it bootable (${bitsText(b)}); give it priority 0, tries 0, successful 0`;
  if (!a.canBoot) return `a fresh image could not boot: slot A's attributes make it unbootable (${bitsText(a)}); give it priority ≥ 1 and successful 1 (or tries ≥ 1)`;
  return null;
}

/**
 * Parses a slot name: `A`/`B` (any case), a slot label such as `USR-A`, or a slot's partition number.
 * UsageError for anything else.
 *
 * @example
 * ```ts
 * const { table } = await readSlotStatus('disk.raw');
 * resolveSlot(table, 'usr-b'); // 'B'
 * resolveSlot(table, '3'); // 'A' (partition 3 is USR-A)
 * ```
 */
export function resolveSlot(table: GptTable, name: string): Slot {
  const slots = findSlots(table);
  const n = String(name).trim();
  const upper = n.toUpperCase();
  if (upper === 'A' || upper === 'B') return upper;
  const byLabel = slots.find((s) => s.label.toUpperCase() === upper);
  if (byLabel) return byLabel.slot;
  if (/^\d+$/.test(n)) {
    const byNumber = slots.find((s) => s.number === Number(n));
    if (byNumber) return byNumber.slot;
  }
  const known = slots.map((s) => `${s.slot}, ${s.label} or ${s.number}`).join('; ');
  throw new UsageError(`unknown slot "${name}" (expected ${known})`);
}
