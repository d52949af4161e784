import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs'
import { join } from 'node:path'

export class DataDirInUseError extends Error {
  readonly code = 'DATA_DIR_IN_USE'
  readonly dataDir: string
  readonly pid: number
  constructor(dataDir: string, pid: number) {
    super(
      `The data directory ${dataDir} is in use by another Tracker process (pid ${pid}). ` +
        'Stop that process first, or start with another data directory.',
    )
    this.dataDir = dataDir
    this.pid = pid
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

// Directories this process holds: a second open from the same process is refused too, while a lock
// file naming our own pid but not held here is a leftover of an earlier process (pids repeat, e.g.
// pid 1 in containers) and is taken over.
const heldHere = new Set<string>()

/**
 * The embedded engine is one process's files: a second process opening them would corrupt them.
 * A lock file holds the owner's pid; a lock left by a dead process is taken over.
 */
export function lockDataDir(dataDir: string): () => void {
  mkdirSync(dataDir, { recursive: true })
  const path = join(dataDir, 'tracker.lock')
  if (heldHere.has(path)) throw new DataDirInUseError(dataDir, process.pid)
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx')
      writeSync(fd, String(process.pid))
      closeSync(fd)
      heldHere.add(path)
      return () => {
        heldHere.delete(path)
        rmSync(path, { force: true })
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
      const pid = Number(readFileSync(path, 'utf8').trim())
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
        throw new DataDirInUseError(dataDir, pid)
      }
      rmSync(path, { force: true })
    }
  }
  throw new Error(`Could not lock the data directory ${dataDir}`)
}
