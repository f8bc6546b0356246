import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The tests' demo checkpoint is the random tiny model, not the shipped trained one.
    setupFiles: ['test/helpers/demo-model-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // 2-core CI machine: ORT sessions and servers in parallel files fight for the same cores.
    maxWorkers: 2,
  },
});
