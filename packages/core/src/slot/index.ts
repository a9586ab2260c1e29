export * from './prioritize.js';
// state.ts also exports the helpers transitions.ts shares with it; the package exports these.
export { SLOTS, SLOT_TYPES, otherSlot, findSlots, slotRecord, slotStatusRecord, roleInTable, slotBytes, slotStatus, activeSlot, inactiveSlot, freshImageProblem, resolveSlot } from './state.js';
export type { Slot, Variant, SlotInfo, SlotStatus, SlotContent, SlotContents, GuardOptions } from './state.js';
export * from './transitions.js';
export * from './image.js';
export * from './attempts.js';
