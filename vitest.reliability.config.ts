import { defineConfig } from 'vitest/config';

/**
 * `npm run test:reliability`: the suite that breaks things on purpose (lost
 * updates, a store restarted, slowed or cut off, shutdown under load, fuzzing).
 * Files run one at a time: each drives gateway processes hard, and on a small
 * machine two at once would measure each other.
 */
export default defineConfig({
  test: {
    include: ['test/reliability/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});
