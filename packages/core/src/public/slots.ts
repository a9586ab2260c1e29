/**
 * `@imgbuild/core/slots`: the A/B slot state machine and its image I/O alone, cheap to load: what a
 * node-side agent needs to mark a slot good or roll back, without the image builder. The same
 * functions as the root entry's.
 *
 * @example
 * ```ts
 * import { applySlotTransition, markSuccessful } from '@imgbuild/core/slots';
 *
 * // After a healthy boot of slot B, on the node's own disk
 * await applySlotTransition('/dev/vda', (t, facts) => markSuccessful(t, 'B', { contents: facts.contents }));
 * ```
 *
 * @module slots
 */
export {
  readSlotStatus,
  applySlotTransition,
  type SlotTarget,
  type SlotImageOptions,
  type SlotTransitionResult,
  type TransitionOutput,
  type SlotDiskFacts,
} from '../slot/image.js';
export { slotStatus, slotStatusRecord, slotBytes, resolveSlot } from '../slot/state.js';
export { next, upgrade, markSuccessful, rollback, cancelUpgrade, prioritize, setSlotBits } from '../slot/transitions.js';
export type { SlotInfo, SlotStatus, SlotContent, SlotContents, GuardOptions, Variant, Slot } from '../slot/state.js';
export type { NextResult, SlotBitsChange } from '../slot/transitions.js';
export type { PickKind } from '../slot/attempts.js';
export { withRawImage } from '../qemu/bundle.js';
export { FileStorage, type Storage } from '../storage.js';
