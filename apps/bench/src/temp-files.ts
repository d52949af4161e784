import { rmSync } from 'node:fs'

const paths = new Set<string>()
let hooked = false

/**
 * Removes `path` when the process exits, also on Ctrl-C (main.ts turns SIGINT/SIGTERM into an exit):
 * an interrupted run must not leave embedded databases and ground-truth files in the temp directory.
 */
export function removeOnExit(path: string): string {
  paths.add(path)
  if (!hooked) {
    hooked = true
    process.once('exit', () => {
      for (const p of paths) rmSync(p, { recursive: true, force: true })
    })
  }
  return path
}

/** Removes it now (the normal path) and forgets it. */
export function removeNow(path: string): void {
  paths.delete(path)
  rmSync(path, { recursive: true, force: true })
}
