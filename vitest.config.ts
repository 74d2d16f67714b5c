import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    // Each file loads the addon, whose kernel pool already uses every core; running files one at a time keeps the
    // 2-core CI machine from oversubscribing.
    fileParallelism: false,
  },
});
