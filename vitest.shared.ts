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
    // expect.poll waits on a condition; its default bound (1 s) is a fixed short timeout in disguise,
    // which a loaded 2-core machine misses. A wide bound keeps slow-but-right runs green, and a
    // broken condition still fails.
    expect: { poll: { timeout: 20_000, interval: 50 } },
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
  },
})
