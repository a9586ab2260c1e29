export * from './marker.js';
export * from './run.js';
export * from './selector-log.js';
export * from './secure-boot.js';
export * from './machine.js';
export * from './tpm.js';
export * from './provision.js';
