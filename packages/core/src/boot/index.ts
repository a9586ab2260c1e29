export * from './pe.js';
export * from './uki.js';
export * from './esp.js';
export * from './cmdline.js';
export * from './esp-plan.js';
export * from './sign.js';
export * from './ovmf-vars.js';
export * from './secureboot-vars.js';
