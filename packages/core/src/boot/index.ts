export * from './pe.js';
export * from './uki.js';
export * from './esp.js';
