export * from './builtin.js';
export * from './load.js';
export * from './plan.js';
export * from './schema.js';
export * from './spec.js';
export * from './record.js';
export * from './roles.js';
export * from './architecture.js';
