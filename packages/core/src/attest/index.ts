export * from './pcr.js';
