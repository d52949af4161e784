import { Kysely, PostgresDialect } from 'kysely'
import pg from 'pg'
import pgListen from 'pg-listen'
import type { Database } from '../schema/database.ts'
import { type Logger, silentLogger } from './logger.ts'
import { runInSession } from './session.ts'
import type { ListenHandlers, NotificationListener, TrackerDatabase } from './tracker-database.ts'
import { textParsers } from './type-parsers.ts'

export interface PostgresOptions {
  url: string
  /** Per app (seed 000's per-app pools). */
  poolSize?: number
  /** Default statement_timeout of the pool's connections. */
  statementTimeoutMs?: number
  applicationName?: string
  logger?: Logger
}

// pg-listen is CommonJS with an ES-style default export.
const createSubscriber = ((pgListen as unknown as { default?: typeof pgListen.default }).default ??
  pgListen) as unknown as typeof pgListen.default

const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    const parser = format !== 'binary' ? textParsers[oid] : undefined
    return parser ?? pg.types.getTypeParser(oid, format)
  },
}

export function connectPostgres(options: PostgresOptions): TrackerDatabase {
  const logger = options.logger ?? silentLogger
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSize ?? 10,
    application_name: options.applicationName ?? 'tracker',
    ...(options.statementTimeoutMs !== undefined ? { statement_timeout: options.statementTimeoutMs } : {}),
    types,
  })
  // An idle client that loses its server must not crash the process; the pool replaces it.
  pool.on('error', (error) => logger.warn({ err: error }, 'idle database connection failed'))
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) })

  return {
    mode: 'postgres',
    db,
    listen: (channel, handlers) => listenPostgres(options, channel, handlers, logger),
    withSession: (fn, sessionOptions) => runInSession(db, fn, sessionOptions),
    close: () => db.destroy(),
  }
}

async function listenPostgres(
  options: PostgresOptions,
  channel: string,
  handlers: ListenHandlers,
  logger: Logger,
): Promise<NotificationListener> {
  // pg-listen stops reconnecting after `retryTimeout` (3 s by default) and notifications sent while
  // it is disconnected are lost: retry forever, and let the caller catch up on every (re)connect.
  // Its reconnect loop ignores close() and also starts when the very first connect fails, so a
  // closed or never-connected subscriber would reconnect forever and hold a connection for nobody:
  // `closed` stops the loop (a throwing retryInterval ends it) and drops what it connects.
  let closed = false
  const subscriber = createSubscriber(
    { connectionString: options.url, application_name: `${options.applicationName ?? 'tracker'}-listener` },
    {
      retryLimit: Number.POSITIVE_INFINITY,
      retryTimeout: Number.POSITIVE_INFINITY,
      retryInterval: (attempt: number) => {
        if (closed) throw new Error('notification listener closed')
        return Math.min(500 * 2 ** attempt, 10_000)
      },
      paranoidChecking: 10_000,
      parse: (payload: string) => payload,
    },
  )
  let connectedOnce = false
  subscriber.events.on('connected', () => {
    if (closed) {
      void subscriber.close().catch(() => {})
      return
    }
    const reconnect = connectedOnce
    connectedOnce = true
    if (reconnect) logger.info({ channel }, 'notification listener reconnected')
    handlers.onConnected?.({ reconnect })
  })
  subscriber.events.on('reconnect', (attempt: number) => {
    if (closed) return
    logger.warn({ channel, attempt }, 'notification listener reconnecting')
    if (attempt === 1) handlers.onDisconnected?.()
  })
  subscriber.events.on('error', (error: Error) => {
    if (closed) return
    logger.error({ err: error, channel }, 'notification listener error')
    handlers.onError?.(error)
  })
  subscriber.notifications.on(channel, (payload: unknown) =>
    handlers.onNotification(typeof payload === 'string' ? payload : ''),
  )
  try {
    await subscriber.connect()
    await subscriber.listenTo(channel)
  } catch (error) {
    closed = true
    await subscriber.close().catch(() => {})
    throw error
  }
  return {
    async close() {
      if (closed) return
      closed = true
      try {
        await subscriber.unlisten(channel)
      } catch {
        // The connection may already be gone; closing is what matters.
      }
      await subscriber.close().catch(() => {})
    },
  }
}
