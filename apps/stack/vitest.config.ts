import { createRequire } from 'node:module'
import { mergeConfig } from 'vitest/config'
import { sharedTestConfig } from '../../vitest.shared.ts'

// As apps/api's config: the tests run the API in this process, and graphql ships CommonJS (main) and
// ESM (module) builds; Vite would hand the API's sources the ESM one while Mercurius loads the
// CommonJS one, and the API's check that a document came from its parser (instanceof Location) fails.
const graphqlEntry = createRequire(import.meta.url).resolve('graphql')

export default mergeConfig(sharedTestConfig, {
  resolve: { alias: [{ find: /^graphql$/, replacement: graphqlEntry }] },
  // One browser test file drives the whole demo stack: minutes on a loaded 2-core machine.
  test: { testTimeout: 120_000, hookTimeout: 300_000 },
})
