// Where the built web app lives, for the API that serves it: the only thing this package exports to
// Node (the page itself is a browser bundle in dist/, built by `vite build`).
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

export const webDistDir = fileURLToPath(new URL('./dist/', import.meta.url))

/** True once `vite build` has written the page (its index.html). */
export function webDistBuilt() {
  return existsSync(new URL('./dist/index.html', import.meta.url))
}
