/**
 * Boot-attempt counting, the rules the UEFI selector applies before gptprio (packages/efi-select's
 * src/attempts.c; its crosscheck test compares the two over every state that fits). Pure.
 *
 * Each slot counts the boots started since its last healthy boot (gpt/attributes.ts: getAttempts).
 * The selector adds one before it starts a slot; the booted system's blessing clears it on every
 * healthy boot. When a slot's count reaches the limit (built into the selector, default 3) the slot is
 * demoted: the count becomes ATTEMPTS_DEMOTED, so anyone reading the GPT sees it without knowing the
 * limit. A demoted slot is passed over while another slot can boot; when none can, the least bad slot
 * boots anyway, so a node is never left powered off:
 *   priority > 0 first, then a slot that was good once (successful), then the lower count (demoted
 *   last), the higher priority, the lower partition number.
 */
import { ATTEMPTS_DEMOTED, ATTEMPTS_MAX, canBoot, getAttempts, getBootBits, setAttempts, setBootBits } from '../gpt/attributes.js';
import { UsageError } from '../errors.js';

export const DEFAULT_ATTEMPT_LIMIT = 3;

/** What the choice rests on, for one slot. */
export interface AttemptSlot {
  /** Partition number: the last tie-breaker. */
  number: number;
  attributes: bigint;
}

/**
 * How the selector chose a slot: by the rules (`healthy`), or as the least bad when no slot could boot
 * by them (every slot demoted or out of tries), so that the machine still tries something.
 *
 * @example
 * ```ts
 * const r = next(table);
 * if (r.pick === 'least-bad') console.warn(`no healthy slot; trying ${r.slot} anyway`);
 * ```
 */
export type PickKind = 'healthy' | 'least-bad';

export function checkAttemptLimit(limit: number): number {
  if (!Number.isInteger(limit) || limit < 1 || limit > ATTEMPTS_MAX) throw new UsageError(`the attempt limit must be an integer 1-${ATTEMPTS_MAX}, got ${limit}`);
  return limit;
}

export const isDemoted = (attributes: bigint) => getAttempts(attributes) === ATTEMPTS_DEMOTED;

/** The attributes after the demotion step: a count that reached `limit` becomes ATTEMPTS_DEMOTED. */
export function demote(attributes: bigint, limit: number): bigint {
  const n = getAttempts(attributes);
  return n >= limit && n !== ATTEMPTS_DEMOTED ? setAttempts(attributes, ATTEMPTS_DEMOTED) : attributes;
}

/** gptprio's choice among slots not demoted: highest priority bootable slot, lower number on a tie. */
function healthyChoice(slots: AttemptSlot[]): number {
  let best = -1;
  slots.forEach((s, i) => {
    const b = getBootBits(s.attributes);
    if (isDemoted(s.attributes) || !canBoot(b)) return;
    if (best < 0 || b.priority > getBootBits(slots[best].attributes).priority || (b.priority === getBootBits(slots[best].attributes).priority && s.number < slots[best].number)) best = i;
  });
  return best;
}

/** Sort key of "least bad": smaller is better, compared element by element. */
function badness(s: AttemptSlot): number[] {
  const b = getBootBits(s.attributes);
  return [b.priority > 0 ? 0 : 1, b.successful ? 0 : 1, getAttempts(s.attributes), -b.priority, s.number];
}

function lessBad(x: AttemptSlot, y: AttemptSlot): boolean {
  const kx = badness(x);
  const ky = badness(y);
  const i = kx.findIndex((v, j) => v !== ky[j]);
  return i >= 0 && kx[i] < ky[i];
}

/** The index of the slot to start and how it was picked; -1 only when `slots` is empty. */
export function pickSlot(slots: AttemptSlot[]): { index: number; kind: PickKind } {
  const h = healthyChoice(slots);
  if (h >= 0) return { index: h, kind: 'healthy' };
  let best = -1;
  slots.forEach((s, i) => {
    if (best < 0 || lessBad(s, slots[best])) best = i;
  });
  return { index: best, kind: 'least-bad' };
}

/** The chosen slot's attributes once started: one try used (when any are left) and one attempt counted. */
export function startedAttributes(attributes: bigint): bigint {
  const b = getBootBits(attributes);
  const a = setBootBits(attributes, { ...b, tries: Math.max(0, b.tries - 1) });
  const n = getAttempts(attributes);
  return n < ATTEMPTS_MAX ? setAttempts(a, n + 1) : a;
}

/** The attributes a healthy boot leaves: the count cleared (demotion included). */
export const clearedAttempts = (attributes: bigint) => setAttempts(attributes, 0);
