export * from './prioritize.js';
export * from './state.js';
export * from './image.js';
export * from './attempts.js';
