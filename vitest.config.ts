import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['packages/*/src/**/*.test.ts', 'packages/*/test/**/*.test.ts', 'test-setup/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // tfjs keeps one backend per process; separate forks keep test files from sharing that state.
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    // After the usual output: how many tests skipped, grouped by why, and a 'N passed, N failed, N skipped' line.
    reporters: ['default', './test-setup/skip-summary.ts'],
    // GitHub's workflow parser imports its schema JSON without an import attribute, which Node refuses; vite's
    // transform loads it (packages/cli/test/scale-out.test.ts validates deploy/github/sweep.yml with it).
    server: { deps: { inline: ['@actions/workflow-parser'] } },
  },
});
