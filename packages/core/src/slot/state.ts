/**
 * The A/B slot state machine over an in-memory GPT. Pure: no I/O; every transition returns a new table
 * and leaves its input alone. Writing the result is one separate call (see image.ts).
 *
 * The slots are the partitions whose type is a /usr type (flatcar-usr, usr-x86-64 or usr-arm64) and
 * whose label ends in -A / -B (or _A / _B). Table order (= partition number order) breaks priority ties.
 *
 * Boot bits per slot: priority (0-15, 0 = never boot), tries (0-15), successful. A slot can boot when
 * priority > 0 and (tries > 0 or successful). The slot that boots next is the highest-priority bootable
 * slot, the lower partition number on a tie (Flatcar GRUB gptprio.next; vboot's kernel selection is
 * the same). That slot is called "active"; the other is "inactive", where an updater writes.
 *
 * Transitions (each guard fails with a SlotError naming the unmet precondition and the values):
 *   next            one boot-time selection (decrements tries on the chosen slot)
 *   prioritize      cgpt's prioritize over the two slots, so the slot boots next
 *                                                            guards: filled; can boot once on top
 *   markSuccessful  successful 1, tries 0, prioritize       guard: filled (see below)
 *   upgrade         successful 0, tries 1, prioritize       guard: not the active successful slot
 *   rollback        the inactive slot goes on top            guard: an active slot; the other can boot
 *   cancelUpgrade   the pending (unsuccessful) slot gets priority 0 and tries 0; the other on top
 *                                                            guard: a pending slot; the other can boot
 *   setSlotBits     raw bits, range checked (UsageError)    guard: never makes an empty slot bootable
 *
 * "Filled" is a fact of the disk, not of the table: the caller reads it (readSlotContents in image.ts)
 * and passes it as `contents`; a slot whose content is unknown is taken as filled. A slot that holds
 * no /usr and is made to boot fails at every boot, so the guards that would make one boot refuse it.
 * `force` skips the guards of prioritize, markSuccessful and setSlotBits (a raw tool for repairs).
 *
 * Where this differs from the references on purpose:
 *   - prioritize groups the two slots only (cgpt groups every ChromeOS kernel partition; the general
 *     form is `prioritizePartitions`, identical to `cgpt prioritize -i N` on any member set).
 *   - upgrade follows update_engine (any slot but the active successful one), not Bottlerocket's
 *     upgrade-to-inactive, which first needs mark-inactive-valid (tries > 0, priority 0).
 *   - cancelUpgrade zeroes tries as well as priority on the pending slot (it no longer looks
 *     half-installed) and prioritizes the kept slot, which therefore gets 1 rather than Bottlerocket's 2.
 */
import { ARCHITECTURES, ARCHITECTURE_TABLE } from '../arch.js';
import { SlotError, UsageError } from '../errors.js';
import { canBoot, getAttempts, getBootBits, setAttempts, setBootBits, ATTEMPTS_DEMOTED, type BootBits } from '../gpt/attributes.js';
import type { GptEntry } from '../gpt/entry.js';
import { partitionRecord } from '../gpt/record.js';
import { cloneTable, type GptTable } from '../gpt/table.js';
import { TYPE_ALIASES } from '../gpt/types.js';
import { slotOfLabel, type Slot } from '../layout/plan.js';
import { cgptPrioritize, MAX_PRIORITY } from './prioritize.js';
import { checkAttemptLimit, DEFAULT_ATTEMPT_LIMIT, demote, isDemoted, pickSlot, startedAttributes, type PickKind } from './attempts.js';

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

const bitsText = (b: BootBits) => `priority ${b.priority}, tries ${b.tries}, successful ${b.successful ? 1 : 0}`;
const describe = (s: SlotInfo) => `${s.slot} (${s.label}, partition ${s.number}: ${bitsText(s)}${s.demoted ? ', demoted' : ''})`;

/** The two slot partitions of a table, in table order. SlotError when there is not exactly one A and one B. */
export function findSlots(table: GptTable): SlotInfo[] {
  const found: SlotInfo[] = [];
  table.entries.forEach((e, i) => {
    if (!SLOT_TYPES.includes(e.type)) return;
    const slot = slotOfLabel(e.name);
    if (!slot) return;
    const other = found.find((f) => f.slot === slot);
    if (other) throw new SlotError(`two partitions are slot ${slot}: ${other.number} (${other.label}) and ${i + 1} (${e.name})`);
    const bits = getBootBits(e.attributes);
    const attempts = getAttempts(e.attributes);
    found.push({ slot, number: i + 1, label: e.name, uuid: e.uuid, type: e.type, firstLba: e.firstLba, lastLba: e.lastLba, attributes: e.attributes, ...bits, canBoot: canBoot(bits), attempts, demoted: attempts === ATTEMPTS_DEMOTED });
  });
  for (const s of SLOTS) {
    if (!found.some((f) => f.slot === s)) {
      throw new SlotError(`no slot ${s}: need a /usr partition (type flatcar-usr, usr-x86-64 or usr-arm64) labelled ...-${s}`);
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
  if (SLOT_TYPES.includes(p.type) && slotOfLabel(p.name)) return 'usr-slot';
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

function slotInfo(table: GptTable, slot: Slot): SlotInfo {
  const found = findSlots(table).find((s) => s.slot === slot);
  // `slot` is typed, but a program may pass anything; resolveSlot reads names a user typed
  if (!found) throw new UsageError(`unknown slot ${JSON.stringify(slot)} (expected A or B)`);
  return found;
}

/**
 * Highest priority among bootable slots; the lower partition number wins a tie (gptprio.next). A slot
 * the selector demoted is passed over (slot/attempts.ts).
 */
function choose(slots: SlotInfo[]): SlotInfo | undefined {
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

/** A copy of `table` with `slot`'s boot bits changed (other attribute bits kept). */
function withBits(table: GptTable, slot: Slot, change: Partial<BootBits>): GptTable {
  const t = cloneTable(table);
  const info = slotInfo(t, slot);
  const e = t.entries[info.number - 1];
  e.attributes = setBootBits(e.attributes, { ...getBootBits(e.attributes), ...change });
  return t;
}

/** True when the boot bits of the slots differ between two tables. */
function bitsDiffer(a: GptTable, b: GptTable): boolean {
  return a.entries.some((e, i) => e.attributes !== b.entries[i].attributes);
}

/**
 * What one boot-time selection ({@link next}) chose and the table after it.
 *
 * @example
 * ```ts
 * const r = next(table);
 * console.log(r.slot, r.changed); // 'B' true: B's one try is used up
 * ```
 */
export interface NextResult {
  /** The slot chosen to boot, or null when none can boot (then nothing changes; chromeos only). */
  slot: Slot | null;
  /** flatcar: `healthy` when the slot can boot by the rules, `least-bad` when none could; null with no slot. */
  pick: PickKind | null;
  /** Slots demoted by this selection (their count reached the limit). */
  demoted: Slot[];
  /** Its partition number, or null. */
  number: number | null;
  table: GptTable;
  /** Whether the table had to be written (a try was used up). */
  changed: boolean;
}

/**
 * One boot-time selection, as firmware does it. Flatcar (GRUB gptprio.next) with imgbuild's attempt
 * counting, exactly what the UEFI selector does: slots whose count reached `attemptLimit` (default 3)
 * are demoted; the choice is gptprio's among the rest, else the least bad slot (slot/attempts.ts); the
 * chosen slot's tries are decremented when > 0 and one attempt is counted. ChromeOS (vboot), without
 * counting: nothing changes when the chosen slot is successful; otherwise tries decremented, and using
 * the last try also sets priority 0.
 *
 * @example
 * ```ts
 * // What the firmware will do at the next boot, without writing anything
 * const r = await applySlotTransition('disk.raw', (t) => next(t), { dryRun: true });
 * console.log(r.result.slot, r.after.slots.map((s) => s.tries));
 * ```
 */
export function next(table: GptTable, opts: { variant?: Variant; attemptLimit?: number } = {}): NextResult {
  const variant = opts.variant ?? 'flatcar';
  if (variant !== 'flatcar' && variant !== 'chromeos') throw new UsageError(`unknown variant "${String(variant)}" (flatcar or chromeos)`);
  if (variant === 'flatcar') return nextCounted(table, checkAttemptLimit(opts.attemptLimit ?? DEFAULT_ATTEMPT_LIMIT));
  const chosen = choose(findSlots(table));
  if (!chosen) return { slot: null, number: null, pick: null, demoted: [], table: cloneTable(table), changed: false };
  const after: Partial<BootBits> = chosen.successful ? {} : chosen.tries > 1 ? { tries: chosen.tries - 1 } : { tries: 0, priority: 0 };
  const t = withBits(table, chosen.slot, after);
  return { slot: chosen.slot, number: chosen.number, pick: 'healthy', demoted: [], table: t, changed: bitsDiffer(table, t) };
}

/** The selector's selection: demote, pick, use a try and count an attempt. */
function nextCounted(table: GptTable, limit: number): NextResult {
  const t = cloneTable(table);
  const slots = findSlots(t);
  const demoted: Slot[] = [];
  for (const s of slots) {
    const e = t.entries[s.number - 1];
    const after = demote(e.attributes, limit);
    if (after !== e.attributes && isDemoted(after)) demoted.push(s.slot);
    e.attributes = after;
  }
  const { index, kind } = pickSlot(slots.map((s) => ({ number: s.number, attributes: t.entries[s.number - 1].attributes })));
  const chosen = slots[index];
  const e = t.entries[chosen.number - 1];
  e.attributes = startedAttributes(e.attributes);
  return { slot: chosen.slot, number: chosen.number, pick: kind, demoted, table: t, changed: bitsDiffer(table, t) };
}

/**
 * Sets new priorities on the partitions numbered `members` (cgpt's prioritize), putting partition
 * `chosen` on top. The general form behind `prioritize`; with cgpt's kernel partitions as members it
 * is exactly `cgpt prioritize -i chosen [-P maxPriority]`.
 */
export function prioritizePartitions(table: GptTable, members: readonly number[], chosen: number, maxPriority?: number): GptTable {
  const idx = members.indexOf(chosen);
  if (idx < 0) throw new SlotError(`partition ${chosen} is not one of the partitions to prioritize (${members.join(', ')})`);
  const entries = members.map((n) => table.entries[n - 1]);
  const prios = cgptPrioritize(entries.map((e) => getBootBits(e.attributes).priority), idx, maxPriority);
  const t = cloneTable(table);
  members.forEach((n, i) => {
    const e = t.entries[n - 1];
    e.attributes = setBootBits(e.attributes, { ...getBootBits(e.attributes), priority: prios[i] });
  });
  return t;
}

/** cgpt's prioritize over the two slots: `slot` on top. No guard: the raw operation, used inside transitions. */
function prioritizeRaw(table: GptTable, slot: Slot): GptTable {
  const slots = findSlots(table);
  return prioritizePartitions(table, slots.map((s) => s.number), slotInfo(table, slot).number);
}

/** Guard: `slot` holds a /usr (when the caller knows), unless forced. */
function requireFilled(table: GptTable, slot: Slot, action: string, g: GuardOptions): void {
  const c = g.contents?.[slot];
  if (g.force || !c || c.filled) return;
  const s = slotInfo(table, slot);
  throw new SlotError(
    `cannot ${action} slot ${slot} (${s.label}, partition ${s.number}): it holds no /usr (${c.reason ?? 'empty'}), so it would fail at every boot; write one with imgbuild update, or give --force`,
  );
}

/**
 * Makes `slot` boot next: cgpt's prioritize over the two slots (`slot` gets the top priority, the
 * other keeps its order below; a priority 0 stays 0). Guards, unless `force`:
 *   - the slot holds a /usr (when `contents` says);
 *   - the slot can boot once on top (tries > 0 or successful 1). cgpt would raise the priority of a
 *     slot that cannot boot and change nothing about what boots; a user asking for "B next" wants B
 *     next, so this refuses and names the verbs that make it bootable: `upgrade` (boot it once, then
 *     fall back unless marked successful, as update_engine does) or `set --tries N`.
 * With `force` it is exactly `cgpt prioritize -i N` on the two slots.
 *
 * @example
 * ```ts
 * await applySlotTransition('disk.raw', (t, facts) => prioritize(t, 'A', { contents: facts.contents }));
 * ```
 */
export function prioritize(table: GptTable, slot: Slot, g: GuardOptions = {}): GptTable {
  requireFilled(table, slot, 'prioritize', g);
  const s = slotInfo(table, slot);
  if (!g.force && !(s.tries > 0 || s.successful)) {
    throw new SlotError(
      `cannot make slot ${slot} boot next: it cannot boot (${bitsText(s)}; needs tries > 0 or successful 1); use imgbuild slot upgrade ${slot} to boot it once, or slot set ${slot} --tries 1`,
    );
  }
  return prioritizeRaw(table, slot);
}

/**
 * After a healthy boot: successful 1, tries 0, then prioritize. Guard: the slot holds a /usr (when
 * `contents` says; unless `force`) — marking an empty slot good would make it boot next and fail at
 * every boot. Otherwise, like Flatcar's flatcar-setgoodroot, it trusts the caller that this slot is the
 * one that booted (the table does not record which slot booted last; under ChromeOS rules a slot that
 * booted on its last try already has priority 0 and must still be markable).
 *
 * @example
 * ```ts
 * // On the node, once the new slot has booted well
 * await applySlotTransition('/dev/sda', (t, facts) => markSuccessful(t, 'B', { contents: facts.contents }));
 * ```
 */
export function markSuccessful(table: GptTable, slot: Slot, g: GuardOptions = {}): GptTable {
  requireFilled(table, slot, 'mark successful', g);
  return prioritizeRaw(withAttempts(withBits(table, slot, { successful: true, tries: 0 }), slot, 0), slot);
}

/** A copy of `table` with `slot`'s attempt count set (0 clears a demotion). */
function withAttempts(table: GptTable, slot: Slot, attempts: number): GptTable {
  const t = cloneTable(table);
  const e = t.entries[slotInfo(t, slot).number - 1];
  e.attributes = setAttempts(e.attributes, attempts);
  return t;
}

/**
 * After writing a new /usr into `slot`: successful 0, tries 1, then prioritize, so that it boots next
 * exactly once. Guards: `slot` is not the active slot (the one that boots next) while successful —
 * that is the known-good system the update must not overwrite; and, like prioritize, the slot holds a
 * /usr (when `contents` says; unless `force`).
 *
 * @example
 * ```ts
 * const r = await applySlotTransition('disk.raw', (t, facts) => upgrade(t, 'B', { contents: facts.contents }));
 * console.log(r.after.next); // 'B'
 * ```
 */
export function upgrade(table: GptTable, slot: Slot, g: GuardOptions = {}): GptTable {
  requireFilled(table, slot, 'upgrade', g);
  const st = slotStatus(table);
  const s = slotInfo(table, slot);
  if (st.next === slot && s.successful) {
    throw new SlotError(`cannot upgrade slot ${slot}: it is the active successful slot ${describe(s)}; upgrade the inactive slot ${otherSlot(slot)}`);
  }
  return prioritizeRaw(withAttempts(withBits(table, slot, { successful: false, tries: 1 }), slot, 0), slot);
}

/**
 * Make the inactive slot boot next (cgpt prioritize on it: it gets 2, the active one 1).
 * Guards: some slot is active; the other slot can boot.
 *
 * @example
 * ```ts
 * const r = await applySlotTransition('disk.raw', rollback);
 * console.log(r.before.next, '→', r.after.next); // B → A
 * ```
 */
export function rollback(table: GptTable): GptTable {
  const st = slotStatus(table);
  if (!st.next) throw new SlotError(`cannot roll back: no slot can boot: ${st.slots.map(describe).join('; ')}`);
  const target = st.slots.find((s) => s.slot !== st.next)!;
  if (!target.canBoot) {
    throw new SlotError(`cannot roll back to slot ${target.slot}: it cannot boot (needs priority > 0 and tries > 0 or successful 1): ${describe(target)}`);
  }
  return prioritizeRaw(table, target.slot);
}

/**
 * Undo a pending upgrade. The pending slot is one with successful 0 and priority > 0 (upgraded, not
 * yet marked successful; the higher priority one if both are); it gets priority 0 and tries 0, and the
 * other slot is prioritized. Guards: there is a pending slot; the other slot can boot.
 *
 * @example
 * ```ts
 * await applySlotTransition('disk.raw', cancelUpgrade); // B will not be tried; A boots on
 * ```
 */
export function cancelUpgrade(table: GptTable): GptTable {
  const slots = findSlots(table);
  let pending: SlotInfo | undefined;
  for (const s of slots) if (!s.successful && s.priority > (pending?.priority ?? 0)) pending = s;
  if (!pending) {
    throw new SlotError(`no pending upgrade to cancel (a slot with successful 0 and priority > 0): ${slots.map(describe).join('; ')}`);
  }
  const keep = slots.find((s) => s !== pending)!;
  if (!keep.canBoot) {
    throw new SlotError(`cannot cancel the upgrade of slot ${pending.slot}: the other slot cannot boot: ${describe(keep)}`);
  }
  return prioritizeRaw(withBits(table, pending.slot, { priority: 0, tries: 0 }), keep.slot);
}

/**
 * The boot bits {@link setSlotBits} sets; a bit left out stays as it is.
 *
 * @example
 * ```ts
 * const change: SlotBitsChange = { priority: 0, tries: 0 };
 * await applySlotTransition('disk.raw', (t) => setSlotBits(t, 'B', change));
 * ```
 */
export interface SlotBitsChange {
  priority?: number;
  tries?: number;
  successful?: boolean;
  /** The attempt count, 0-7 (7 = demoted). */
  attempts?: number;
}

/**
 * Sets raw boot bits on a slot. Values are checked: priority and tries integers 0-15 (UsageError).
 * Guard (unless `force`): a slot that holds no /usr (per `contents`) is not made bootable; setting it
 * unbootable (priority 0, say) is always allowed.
 *
 * @example
 * ```ts
 * await applySlotTransition('disk.raw', (t, facts) => setSlotBits(t, 'A', { tries: 3, successful: false }, { contents: facts.contents }));
 * ```
 */
export function setSlotBits(table: GptTable, slot: Slot, change: SlotBitsChange, g: GuardOptions = {}): GptTable {
  for (const k of ['priority', 'tries'] as const) {
    const v = change[k];
    if (v !== undefined && (!Number.isInteger(v) || v < 0 || v > MAX_PRIORITY)) throw new UsageError(`${k} must be an integer 0-15, got ${v}`);
  }
  if (change.successful !== undefined && typeof change.successful !== 'boolean') throw new UsageError(`successful must be 0 or 1, got ${String(change.successful)}`);
  const { attempts, ...bits } = change;
  const defined = Object.fromEntries(Object.entries(bits).filter(([, v]) => v !== undefined)) as Partial<BootBits>;
  let t = withBits(table, slot, defined);
  if (attempts !== undefined) t = withAttempts(t, slot, attempts);
  if (slotInfo(t, slot).canBoot) requireFilled(table, slot, 'make bootable', g);
  return t;
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
