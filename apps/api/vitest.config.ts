import { createRequire } from 'node:module'
import { mergeConfig } from 'vitest/config'
import { sharedTestConfig } from '../../vitest.shared.ts'

// graphql ships CommonJS (main) and ESM (module) builds. Node loads the CommonJS one for both our
// sources and Mercurius; Vite would hand our sources the ESM one, and two graphql instances refuse
// each other's schemas. Resolve it the way Node does.
const graphqlEntry = createRequire(import.meta.url).resolve('graphql')

export default mergeConfig(sharedTestConfig, {
  resolve: { alias: [{ find: /^graphql$/, replacement: graphqlEntry }] },
})
