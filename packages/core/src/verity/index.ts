export * from './geometry.js';
export * from './superblock.js';
export { TreeHasher, type HasherConfig } from './hasher.js';
export type { VerityFailure, VerityRegion } from './tree.js';
export * from './format.js';
export * from './verify.js';
export * from './slot-area.js';
export { sparseVerityRoot, type SparseRootOptions, type SparseRootResult } from './sparse.js';
