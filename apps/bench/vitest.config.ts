import { createRequire } from 'node:module'
import { mergeConfig } from 'vitest/config'
import { sharedTestConfig } from '../../vitest.shared.ts'

// As apps/api's config: graphql ships CommonJS (main) and ESM (module) builds; Node loads the
// CommonJS one for the API's sources and for Mercurius, Vite would hand the sources the ESM one, and
// the API's check that a document came from its parser (instanceof Location) would then fail.
const graphqlEntry = createRequire(import.meta.url).resolve('graphql')

export default mergeConfig(sharedTestConfig, {
  resolve: { alias: [{ find: /^graphql$/, replacement: graphqlEntry }] },
})
