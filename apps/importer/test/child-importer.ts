import { type ChildProcessByStdio, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { connectEmbedded, migrateToLatest, type TrackerDatabase } from '@tracker/db'
import { createTestDatabase, type TestDatabase, testEnv } from '@tracker/db/testing'
import { onTestFinished } from 'vitest'

const MAIN = join(import.meta.dirname, '../src/main.ts')

/**
 * The database a test shares with importer processes it starts: a fresh server database with
 * TEST_DATABASE_URL (both sides connected at once), otherwise an embedded one in a data directory,
 * which the child can open only while the test has it closed (`release`).
 */
export interface SharedDatabase {
  /** DATABASE_URL or DATA_DIR for the child. */
  readonly env: Record<string, string>
  /** The database, migrated; embedded: opened again after each release. */
  open(): Promise<TrackerDatabase>
  /** Lets a child open it (embedded: closes it; a server database stays open). */
  release(): Promise<void>
  /** Closes what is open and removes the database. */
  dispose(): Promise<void>
}

export async function sharedDatabase(): Promise<SharedDatabase> {
  if (testEnv.databaseUrl) {
    const server: TestDatabase = await createTestDatabase()
    return {
      env: { DATABASE_URL: server.url! },
      open: async () => server,
      release: async () => {},
      dispose: () => server.close(),
    }
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'tracker-importer-child-'))
  let migrated = false
  let current: TrackerDatabase | null = null
  const release = async () => {
    await current?.close()
    current = null
  }
  return {
    env: { DATA_DIR: dataDir },
    async open() {
      current ??= await connectEmbedded({ dataDir })
      if (!migrated) await migrateToLatest(current.db)
      migrated = true
      return current
    },
    release,
    async dispose() {
      await release()
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

export interface LogLine {
  msg: string
  level: number
  [field: string]: unknown
}

/** `main.ts` in its own process, as deployed: its JSON log lines parsed, its exit awaited. */
export class ChildImporter {
  readonly lines: LogLine[] = []
  readonly exited: Promise<number | NodeJS.Signals | null>
  readonly #child: ChildProcessByStdio<null, Readable, Readable>
  #output = ''
  #closed = false
  #waiters = new Set<() => void>()

  constructor(args: string[], env: Record<string, string>) {
    this.#child = spawn(process.execPath, ['--conditions=tracker-source', MAIN, ...args], {
      env: { PATH: process.env.PATH, LOG_LEVEL: 'debug', GEOCODER: 'off', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    // 'close', not 'exit': every line it wrote has been read by then.
    this.exited = new Promise((resolve) => this.#child.on('close', (code, signal) => resolve(signal ?? code)))
    void this.exited.then(() => {
      this.#closed = true
      this.#notify()
    })
    let pending = ''
    this.#child.stdout.on('data', (chunk: Buffer) => {
      this.#output += chunk.toString()
      pending += chunk.toString()
      const complete = pending.split('\n')
      pending = complete.pop() ?? ''
      for (const line of complete.filter(Boolean)) {
        try {
          this.lines.push(JSON.parse(line) as LogLine)
        } catch {
          // Not a log line (console output of a command): kept in output() only.
        }
      }
      this.#notify()
    })
    this.#child.stderr.on('data', (chunk: Buffer) => {
      this.#output += chunk.toString()
    })
    onTestFinished(async () => {
      if (this.alive) this.#child.kill('SIGKILL')
      await this.exited
    })
  }

  /** Everything it wrote, for failure messages. */
  output(): string {
    return this.#output
  }

  get alive(): boolean {
    return !this.#closed
  }

  kill(signal: NodeJS.Signals): void {
    this.#child.kill(signal)
  }

  /** Resolves with the first log line `match` accepts, as soon as it is written. */
  async waitForLine(match: (line: LogLine) => boolean, timeoutMs = 90_000): Promise<LogLine> {
    await this.waitUntil(() => this.lines.some(match), timeoutMs)
    return this.lines.find(match)!
  }

  /** Resolves once `condition` holds, checked on every line written. */
  waitUntil(condition: () => boolean, timeoutMs = 90_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const finish = (settle: () => void) => {
        clearTimeout(timer)
        this.#waiters.delete(check)
        settle()
      }
      const check = () => {
        if (condition()) finish(resolve)
        else if (!this.alive) finish(() => reject(new Error(`the importer exited first:\n${this.#output}`)))
      }
      const timer = setTimeout(
        () => finish(() => reject(new Error(`not seen within ${timeoutMs} ms:\n${this.#output}`))),
        timeoutMs,
      )
      this.#waiters.add(check)
      check()
    })
  }

  /** The lines with this message. */
  logged(msg: string): LogLine[] {
    return this.lines.filter((line) => line.msg === msg)
  }

  #notify(): void {
    for (const waiter of [...this.#waiters]) waiter()
  }
}
