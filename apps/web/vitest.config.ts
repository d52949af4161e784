import { sharedTestConfig } from '../../vitest.shared.ts'

// The page's pure modules (ranges, formats) run in Node; the page itself is tested in a real browser
// against the whole system in apps/stack/test/web.
export default sharedTestConfig
