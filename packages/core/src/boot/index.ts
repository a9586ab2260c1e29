export * from './pe.js';
export * from './uki.js';
export * from './esp.js';
export * from './cmdline.js';
export * from './esp-plan.js';
