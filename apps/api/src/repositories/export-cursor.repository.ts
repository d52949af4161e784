import { randomBytes } from 'node:crypto'
import type { Database, EmbeddedDatabase, TrackerDatabase } from '@tracker/db'
import { type Compilable, CompiledQuery, type Kysely, sql } from 'kysely'
import { type CopyField, inlineParameters, parseCopyText, sqlIdentifier, sqlLiteral } from './copy-text.ts'
import { copyText } from './embedded-copy.ts'
import { parseTimestamptzText } from './timestamptz-text.ts'

/** The type oid of timestamptz, whose values COPY pages parse without the Date parser. */
const TIMESTAMPTZ = 1184

const timestamptzParser =
  (engineParser: (text: string, typeId: number) => unknown) =>
  (text: string): unknown =>
    parseTimestamptzText(text, (t) => engineParser(t, TIMESTAMPTZ) as Date)

export interface PageOptions<R> {
  /**
   * Columns whose values order the query's rows and tell any two apart: its ORDER BY, every column
   * ascending and NOT NULL. On the embedded engine the rows are then read a page at a time by COPY,
   * each page the query's rows after the last one read (see ExportCursorReader); ignored on a server.
   */
  key?: readonly (keyof R & string)[]
}

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
 *
 * A query with a `key` is read on the embedded engine without a cursor: each page is its own
 * statement, COPY (the query's rows after the last page's last key, LIMIT page + 1) TO a device
 * that collects its output (embedded-copy.ts), its text parsed here. Rows through the engine's query protocol cost about three times the
 * statement: its JavaScript side copies and decodes every field of every row on its own (100,000
 * reports of 11 columns: 2.1-2.3 s through FETCH, of which 1.6 s in that parsing, against 0.6-0.7 s
 * for a COPY of them), which held the reports export at 0.3 of a bare COPY. Each page sees the data as it is when the page is read (no snapshot for
 * the whole query): a row written meanwhile shows up if it sorts after the page being read, no row
 * comes twice and the order holds.
 */
export class ExportCursorReader {
  readonly #database: TrackerDatabase
  readonly #signal: AbortSignal
  #held: { conn: Kysely<Database>; release: () => Promise<void>; pid: number } | undefined
  #closed = false
  /** Result columns of each statement read by COPY, by its SQL (the same for every tracker). */
  readonly #described = new Map<string, CopyField[]>()

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
  pages<R>(query: Compilable<R>, pageSize: number, options: PageOptions<R> = {}): AsyncGenerator<R[]> {
    if (options.key && options.key.length > 0 && this.#database.mode === 'embedded')
      return this.#copyPages(query, pageSize, options.key)
    return this.#cursorPages(query, pageSize)
  }

  async *#cursorPages<R>(query: Compilable<R>, pageSize: number): AsyncGenerator<R[]> {
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

  /** The embedded engine's keyset pages: COPY of the query's next `pageSize` (+ 1, to know of more) rows. */
  async *#copyPages<R>(query: Compilable<R>, pageSize: number, key: readonly string[]): AsyncGenerator<R[]> {
    const embedded = this.#database as EmbeddedDatabase
    const compiled = query.compile()
    this.#signal.throwIfAborted()
    const fields = await this.#describe(embedded, compiled.sql)
    const keyAt = key.map((column) => {
      const at = fields.findIndex((f) => f.name === column)
      if (at < 0) throw new Error(`the key column ${column} is not among the query's columns`)
      return at
    })
    const statement = inlineParameters(compiled)
    const order = key.map((column) => `page.${sqlIdentifier(column)}`)
    let after: string[] | undefined
    while (true) {
      this.#signal.throwIfAborted()
      // The first key column bounds the index scan; the row comparison finds the place within it.
      const where = after
        ? ` WHERE ${order[0]} >= ${sqlLiteral(after[0])} AND (${order.join(', ')}) > (${after.map(sqlLiteral).join(', ')})`
        : ''
      const text = await copyText(
        embedded,
        `SELECT * FROM (${statement}) AS page${where} ORDER BY ${order.join(', ')} LIMIT ${pageSize + 1}`,
      )
      const page = parseCopyText<R>(text, fields, pageSize)
      if (page.rows.length > 0) yield page.rows
      if (!page.more) return
      after = keyAt.map((at, i) => {
        const value = page.lastText![at]
        if (value === null || value === undefined) throw new Error(`the key column ${key[i]} is NULL`)
        return value
      })
    }
  }

  async #describe(embedded: EmbeddedDatabase, statement: string): Promise<CopyField[]> {
    let fields = this.#described.get(statement)
    if (!fields) {
      const described = await embedded.engineMutex.run(() => embedded.engine.describeQuery(statement))
      fields = described.resultFields.map((f) => ({
        name: f.name,
        dataTypeID: f.dataTypeID,
        parser: f.dataTypeID === TIMESTAMPTZ && f.parser ? timestamptzParser(f.parser) : f.parser,
      }))
      this.#described.set(statement, fields)
    }
    return fields
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
