export * from './squashfs.js';
export * from './erofs.js';
export * from './detect.js';
export * from './probe.js';
