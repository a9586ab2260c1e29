export * from './errors.js';
export * from './guid.js';
export * from './storage.js';
export * from './gpt/index.js';
export * from './layout/index.js';
export * from './verity/geometry.js';
