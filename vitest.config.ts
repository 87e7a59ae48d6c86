import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    // Above the tests' own patience (test/support/wait.ts), so a wait that gives up names what
    // it waited for. Tests order concurrent things with barriers, not with time: these bounds
    // only catch a hang, on machines faster or slower than the one they were written on.
    testTimeout: 180_000,
    hookTimeout: 180_000,
  },
});
