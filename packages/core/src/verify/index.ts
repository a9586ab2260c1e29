export * from './check.js';
export * from './coverage.js';
export { recordImage, type RoleOf } from './record.js';
export { checkDiskSize, checkProtectiveMbr, checkGptCopy } from './check-gpt.js';
export { checkSlot, pendingBootCheck } from './check-slot.js';
export { checkEsp } from './check-esp.js';
export { checkBoot } from './check-boot.js';
export { checkReserved, checkUnallocated, listWritable } from './check-digests.js';
export { checkSignatures } from './check-signatures.js';
