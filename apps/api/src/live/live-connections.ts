import type { Database, Logger } from '@tracker/db'
import type { Kysely } from 'kysely'
import type { AuthenticatedToken } from '../graphql/context.ts'
import { findLiveApiTokens, findLiveSessionHashes } from '../repositories/live-credential.repository.ts'

/** WebSocket close codes, as graphql-ws' clients read them (4401 and 4429 are not retried). */
export const CLOSE_UNAUTHORIZED = 4401
export const CLOSE_FORBIDDEN = 4403
export const CLOSE_TOO_MANY = 4429
/** The server is going away (shutdown): clients reconnect. */
export const CLOSE_GOING_AWAY = 1001

/** One authenticated subscription socket. */
export interface LiveConnection {
  /** Its token as last checked: scope and trackers follow the database (a deleted tracker leaves it). */
  token: AuthenticatedToken
  /** SHA-256 of the session secret when the web session's cookie authenticated it. */
  sessionHash: string | undefined
  subscriptions: number
  close(code: number, reason: string): void
}

export class TooManySubscriptionsError extends Error {}

/**
 * Every subscription socket of this process by token: limits per token (connections, and
 * subscriptions across them), and closing a token's or a session's sockets when it is revoked or
 * signed out here (at once) or elsewhere (seen by `recheck`, every API_TOKEN_CACHE_TTL: one query
 * for all tokens, one for all sessions, whatever the number of sockets).
 */
export class LiveConnections {
  readonly #byToken = new Map<string, Set<LiveConnection>>()
  readonly #db: Kysely<Database>
  readonly #limits: { maxConnectionsPerToken: number; maxPerToken: number }
  readonly #logger: Logger
  #timer: NodeJS.Timeout | undefined

  constructor(options: {
    db: Kysely<Database>
    limits: { maxConnectionsPerToken: number; maxPerToken: number }
    logger: Logger
  }) {
    this.#db = options.db
    this.#limits = options.limits
    this.#logger = options.logger
  }

  get size(): number {
    let n = 0
    for (const set of this.#byToken.values()) n += set.size
    return n
  }

  /** Checks every socket's credentials every `intervalMs` until stop(). */
  startRechecks(intervalMs: number): void {
    this.#timer = setInterval(() => {
      this.recheck().catch((error) =>
        this.#logger.warn({ err: error }, 'subscription credential check failed'),
      )
    }, intervalMs)
    this.#timer.unref()
  }

  /** Closes every socket (shutdown) and stops checking. */
  stop(): void {
    if (this.#timer) clearInterval(this.#timer)
    for (const set of [...this.#byToken.values()]) {
      for (const connection of [...set]) connection.close(CLOSE_GOING_AWAY, 'Server shutting down')
    }
  }

  /** Adds a socket; false when its token already holds API_SUBSCRIPTION_MAX_CONNECTIONS_PER_TOKEN. */
  add(connection: LiveConnection): boolean {
    const set = this.#byToken.get(connection.token.id) ?? new Set()
    if (set.size >= this.#limits.maxConnectionsPerToken) return false
    set.add(connection)
    this.#byToken.set(connection.token.id, set)
    return true
  }

  remove(connection: LiveConnection): void {
    const set = this.#byToken.get(connection.token.id)
    if (!set) return
    set.delete(connection)
    if (set.size === 0) this.#byToken.delete(connection.token.id)
  }

  /** One more subscription on this socket, within the token's limit (else TooManySubscriptionsError). */
  claimSubscription(connection: LiveConnection): () => void {
    let used = 0
    for (const other of this.#byToken.get(connection.token.id) ?? []) used += other.subscriptions
    if (used >= this.#limits.maxPerToken) {
      throw new TooManySubscriptionsError(
        `This token has ${used} live subscriptions, the most it may have (API_SUBSCRIPTION_MAX_PER_TOKEN); ` +
          'complete one first',
      )
    }
    connection.subscriptions++
    let released = false
    return () => {
      if (released) return
      released = true
      connection.subscriptions--
    }
  }

  /** The token was revoked: its sockets close now (4401). */
  closeToken(tokenId: string, reason = 'The API token was revoked'): void {
    for (const connection of [...(this.#byToken.get(tokenId) ?? [])]) {
      connection.close(CLOSE_UNAUTHORIZED, reason)
    }
  }

  /** The session was signed out: its sockets close now (4401). */
  closeSession(sessionHash: string): void {
    for (const set of [...this.#byToken.values()]) {
      for (const connection of [...set]) {
        if (connection.sessionHash === sessionHash) {
          connection.close(CLOSE_UNAUTHORIZED, 'The session was signed out')
        }
      }
    }
  }

  /**
   * What other replicas (or the CLI) did: sockets of revoked tokens, signed-out or expired sessions
   * close; the others take their token's current trackers.
   */
  async recheck(): Promise<void> {
    if (this.#byToken.size === 0) return
    const live = new Map((await findLiveApiTokens(this.#db, [...this.#byToken.keys()])).map((t) => [t.id, t]))
    const sessions = new Set<string>()
    for (const set of this.#byToken.values())
      for (const c of set) if (c.sessionHash) sessions.add(c.sessionHash)
    const liveSessions = new Set(await findLiveSessionHashes(this.#db, [...sessions]))
    for (const [tokenId, set] of [...this.#byToken]) {
      const row = live.get(tokenId)
      if (!row) {
        this.closeToken(tokenId)
        continue
      }
      for (const connection of [...set]) {
        if (connection.sessionHash && !liveSessions.has(connection.sessionHash)) {
          connection.close(CLOSE_UNAUTHORIZED, 'The session ended (signed out or expired): sign in again')
          continue
        }
        connection.token = { id: row.id, name: row.name, scope: row.scope, trackerIds: row.tracker_ids }
      }
    }
  }
}
