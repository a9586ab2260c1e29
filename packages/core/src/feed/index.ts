export * from '../manifest/feed.js';
export * from './publish.js';
export * from './transfers.js';
export type { GpgSigner } from './gpg.js';
