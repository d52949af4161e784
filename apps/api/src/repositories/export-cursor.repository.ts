import { randomBytes } from 'node:crypto'
import type { Database, TrackerDatabase } from '@tracker/db'
import { type Compilable, CompiledQuery, type Kysely, sql } from 'kysely'

/**
 * Reads the rows of one or more queries through database cursors, a page (FETCH) at a time, for the
 * exports: nothing but a page is in memory, and a reader that is closed or aborted mid-way stops
 * the statement.
 *
 * On a server: one pooled connection held for the reader's life, one READ ONLY REPEATABLE READ
 * transaction (every query of the export sees the same snapshot), a NO SCROLL cursor per query;
 * an abort cancels the statement in flight (pg_cancel_backend from another connection), closing
 * rolls the transaction back. On the embedded engine, a single session that every request shares,
 * holding a transaction for as long as a client downloads would stop everyone else: each cursor is
 * WITH HOLD instead (materialized when declared, spilling to disk beyond work_mem) and each FETCH
 * takes the session only for itself, so other requests run between pages.
 */
export class ExportCursorReader {
  readonly #database: TrackerDatabase
  readonly #signal: AbortSignal
  #held: { conn: Kysely<Database>; release: () => Promise<void>; pid: number } | undefined
  #closed = false

  private constructor(database: TrackerDatabase, signal: AbortSignal) {
    this.#database = database
    this.#signal = signal
  }

  static async open(database: TrackerDatabase, signal: AbortSignal): Promise<ExportCursorReader> {
    const reader = new ExportCursorReader(database, signal)
    if (database.mode === 'postgres') {
      const held = await holdConnection(database.db)
      try {
        const { rows } = await sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`.execute(held.conn)
        await sql`BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY`.execute(held.conn)
        reader.#held = { ...held, pid: rows[0]!.pid }
      } catch (error) {
        await held.release()
        throw error
      }
      signal.addEventListener('abort', reader.#cancel, { once: true })
    }
    return reader
  }

  /** The server session's pid (tests look for its statements in pg_stat_activity). */
  get backendPid(): number | undefined {
    return this.#held?.pid
  }

  /** Cancels what the held connection runs now: the FETCH a disconnected client was waiting for. */
  #cancel = () => {
    const pid = this.#held?.pid
    if (pid === undefined || this.#closed) return
    sql`SELECT pg_cancel_backend(${pid})`.execute(this.#database.db).catch(() => {})
  }

  /** The query's rows, `pageSize` at a time, in its order. */
  async *pages<R>(query: Compilable<R>, pageSize: number): AsyncGenerator<R[]> {
    const name = `tracker_export_${randomBytes(6).toString('hex')}`
    const compiled = query.compile()
    const conn = this.#held?.conn ?? this.#database.db
    const hold = this.#held ? '' : ' WITH HOLD'
    this.#signal.throwIfAborted()
    await conn.executeQuery(
      CompiledQuery.raw(`DECLARE ${name} NO SCROLL CURSOR${hold} FOR ${compiled.sql}`, [
        ...compiled.parameters,
      ]),
    )
    let open = true
    try {
      while (true) {
        this.#signal.throwIfAborted()
        const { rows } = await conn.executeQuery<R>(
          CompiledQuery.raw(`FETCH FORWARD ${pageSize} FROM ${name}`),
        )
        if (rows.length > 0) yield rows
        if (rows.length < pageSize) break
      }
      await conn.executeQuery(CompiledQuery.raw(`CLOSE ${name}`))
      open = false
    } finally {
      // A cursor of an aborted transaction is gone with the rollback; a WITH HOLD one must be closed.
      if (open && !this.#held) await conn.executeQuery(CompiledQuery.raw(`CLOSE ${name}`)).catch(() => {})
    }
  }

  /** Ends the transaction and gives the connection back; idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#signal.removeEventListener('abort', this.#cancel)
    const held = this.#held
    if (!held) return
    try {
      await sql`ROLLBACK`.execute(held.conn)
    } finally {
      await held.release()
    }
  }
}

/** One pooled connection for as long as the caller keeps it (Kysely lends one only for a callback). */
function holdConnection(
  db: Kysely<Database>,
): Promise<{ conn: Kysely<Database>; release: () => Promise<void> }> {
  return new Promise((resolve, reject) => {
    let release!: () => void
    const released = new Promise<void>((r) => {
      release = r
    })
    const held = db.connection().execute(async (conn) => {
      resolve({
        conn,
        release: async () => {
          release()
          await held
        },
      })
      await released
    })
    held.catch(reject)
  })
}
