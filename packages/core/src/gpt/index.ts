export * from './attributes.js';
export * from './entry.js';
export * from './header.js';
export * from './io.js';
export * from './mbr.js';
export * from './table.js';
export * from './types.js';
export * from './record.js';
