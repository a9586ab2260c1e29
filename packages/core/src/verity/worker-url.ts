/**
 * Where the verity worker thread's entry is (one place, so the bundle has one chunk that names it, beside
 * worker.js): the build's worker.js next to this module, or, running from sources (tests), the build's.
 */
export const WORKER_URL = import.meta.url.endsWith('.ts') ? new URL('../../dist/verity/worker.js', import.meta.url) : new URL('./worker.js', import.meta.url);
