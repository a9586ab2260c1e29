export * from './pcr.js';
export * from './quote.js';
export * from './eventlog.js';
export * from './report.js';
export * from './attest.js';
