/**
 * The slot transitions: verbs that take a table and return a new one (the input is left alone), each
 * guarded; writing the result is one separate call (image.ts). Reading which slot boots, and why, is
 * state.ts.
 *
 * Transitions (each guard fails with a SlotError naming the unmet precondition and the values):
 *   next            one boot-time selection (decrements tries on the chosen slot)
 *   prioritize      cgpt's prioritize over the two slots, so the slot boots next
 *                                                            guards: filled; can boot once on top
 *   markSuccessful  successful 1, tries 0, prioritize       guard: filled (see state.ts)
 *   upgrade         successful 0, tries 1, prioritize       guard: not the active successful slot
 *   rollback        the inactive slot goes on top            guard: an active slot; the other can boot
 *   cancelUpgrade   the pending (unsuccessful) slot gets priority 0 and tries 0; the other on top
 *                                                            guard: a pending slot; the other can boot
 *   setSlotBits     raw bits, range checked (UsageError)    guard: never makes an empty slot bootable
 *
 * Where this differs from the references on purpose:
 *   - prioritize groups the two slots only (cgpt groups every ChromeOS kernel partition; the general
 *     form is `prioritizePartitions`, identical to `cgpt prioritize -i N` on any member set).
 *   - upgrade follows update_engine (any slot but the active successful one), not Bottlerocket's
 *     upgrade-to-inactive, which first needs mark-inactive-valid (tries > 0, priority 0).
 *   - cancelUpgrade zeroes tries as well as priority on the pending slot (it no longer looks
 *     half-installed) and prioritizes the kept slot, which therefore gets 1 rather than Bottlerocket's 2.
 */
import { SlotError, UsageError } from '../errors.js';
import { getBootBits, setAttempts, setBootBits, type BootBits } from '../gpt/attributes.js';
import { cloneTable, type GptTable } from '../gpt/table.js';
import { cgptPrioritize, MAX_PRIORITY } from './prioritize.js';
import { checkAttemptLimit, DEFAULT_ATTEMPT_LIMIT, demote, isDemoted, pickSlot, startedAttributes, type PickKind } from './attempts.js';
import { otherSlot, bitsText, describe, findSlots, slotInfo, choose, slotStatus } from './state.js';
import type { GuardOptions, SlotInfo, Variant, Slot } from './state.js';

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
  // a slot labelled _empty is never started, not even as the least bad (the selector's rule too)
  const candidates = slots.filter((s) => !s.empty);
  const { index, kind } = pickSlot(candidates.map((s) => ({ number: s.number, attributes: t.entries[s.number - 1].attributes })));
  if (index < 0) return { slot: null, number: null, pick: null, demoted, table: t, changed: bitsDiffer(table, t) };
  const chosen = candidates[index];
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
