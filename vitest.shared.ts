import { defineConfig } from 'vitest/config'

/**
 * Shared vitest settings. `tracker-source` makes workspace packages resolve to their TypeScript
 * sources, so tests never depend on a previous build.
 */
export const sharedTestConfig = defineConfig({
  resolve: { conditions: ['tracker-source'] },
  ssr: { resolve: { conditions: ['tracker-source'] } },
  test: {
    pool: 'forks',
    passWithNoTests: true,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
  },
})
