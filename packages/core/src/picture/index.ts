export * from './disk.js';
export * from './bar.js';
export * from './svg.js';
