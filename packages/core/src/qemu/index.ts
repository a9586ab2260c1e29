export * from './marker.js';
export * from './run.js';
