import { defineConfig } from 'vitest/config';
import OsFirstSequencer from './test/sequencer.js';

export default defineConfig({
  test: {
    include: ['packages/*/src/**/*.test.ts', 'packages/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 600_000,
    // Two cores: integration tests drive external tools and qemu; keep the machine from thrashing.
    maxWorkers: 2,
    pool: 'forks',
    sequence: { sequencer: OsFirstSequencer },
  },
});
