import type { Kysely } from 'kysely'
import type { Database } from '../schema/database.ts'

export type ConnectionMode = 'postgres' | 'embedded'

export interface ListenHandlers {
  onNotification(payload: string): void
  /** Called on the first connect and after every reconnect: notifications sent meanwhile are lost, catch up. */
  onConnected?(event: { reconnect: boolean }): void
  /** Called when the connection is lost; reconnection is under way (health checks report it). */
  onDisconnected?(): void
  onError?(error: Error): void
}

export interface NotificationListener {
  /** UNLISTEN and close the listening connection. */
  close(): Promise<void>
}

export interface SessionOptions {
  /** statement_timeout for this session's statements, reset afterwards. */
  statementTimeoutMs?: number
}

/**
 * What every app gets from `connectDatabase`, whichever engine is behind it: Kysely for queries,
 * a listener for notifications, and a dedicated session for statements that must run outside any
 * transaction on their own connection (continuous aggregate refreshes).
 */
export interface TrackerDatabase {
  readonly mode: ConnectionMode
  readonly db: Kysely<Database>
  listen(channel: string, handlers: ListenHandlers): Promise<NotificationListener>
  /**
   * Runs `fn` on one connection held for its duration, outside any transaction. In embedded mode this
   * holds the single session: inside `fn` use only the `session` argument, never the outer `db`.
   */
  withSession<T>(fn: (session: Kysely<Database>) => Promise<T>, options?: SessionOptions): Promise<T>
  close(): Promise<void>
}
