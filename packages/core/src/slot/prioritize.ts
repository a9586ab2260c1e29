/**
 * cgpt's `prioritize` as a pure function over a list of priorities (ChromeOS vboot_reference,
 * cgpt_prioritize.c; behaviour re-implemented, checked against the real `cgpt prioritize -i N`).
 *
 * 1. Group the members by their current priority. The chosen member leaves its group and forms a
 *    group of its own above every other.
 * 2. Order the groups from highest to lowest priority.
 * 3. A trailing group of priority 0 ("never boot") is left alone: prioritize never raises it and never
 *    lowers anything to 0.
 * 4. The remaining groups are renumbered downward from `maxPriority` (default: the number of groups,
 *    capped at 15). Numbering stops at 1: with more than 15 groups the lowest ones share priority 1.
 *
 * Two slots, chosen one and the other at priority > 0: chosen 2, other 1. Other at 0: chosen 1, other 0.
 */
import { UsageError } from '../errors.js';

export const MAX_PRIORITY = 15;

/**
 * New priorities for `priorities` (one per member, in table order) when member `chosen` (an index into
 * `priorities`) is put on top. Pure; the input is not changed.
 */
export function cgptPrioritize(priorities: readonly number[], chosen: number, maxPriority?: number): number[] {
  if (!Number.isInteger(chosen) || chosen < 0 || chosen >= priorities.length) {
    throw new RangeError(`chosen member ${chosen} is not one of the ${priorities.length} members`);
  }
  for (const p of priorities) {
    if (!Number.isInteger(p) || p < 0 || p > MAX_PRIORITY) throw new RangeError(`priority ${p} is not an integer 0-15`);
  }
  if (maxPriority !== undefined && (!Number.isInteger(maxPriority) || maxPriority < 1 || maxPriority > MAX_PRIORITY)) {
    throw new UsageError(`the highest priority must be an integer 1-15, got ${maxPriority}`);
  }
  const TOP = Infinity; // the chosen member's own group, above every real priority
  const keyOf = (i: number) => (i === chosen ? TOP : priorities[i]);
  const groups = [...new Set(priorities.map((_, i) => keyOf(i)))].sort((a, b) => b - a);
  if (groups[groups.length - 1] === 0) groups.pop(); // the trailing priority-0 group keeps its 0
  const start = maxPriority ?? Math.min(groups.length, MAX_PRIORITY);
  const renumbered = new Map<number, number>();
  groups.forEach((g, rank) => renumbered.set(g, Math.max(1, start - rank)));
  return priorities.map((p, i) => renumbered.get(keyOf(i)) ?? p);
}
