export * from './kind.js';
export * from './naming.js';
export * from './extension-release.js';
export * from './transfer.js';
export * from './tree.js';
export * from './pack.js';
export * from './ddi.js';
export * from './build.js';
