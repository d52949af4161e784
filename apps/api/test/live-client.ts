import { type Client, createClient } from 'graphql-ws'
import WebSocket from 'ws'

/** One subscription's events as they arrive, and how it ended. */
export interface Recorded<T = Record<string, unknown>> {
  events: T[]
  errors: { message: string; extensions?: { code?: string } }[]
  completed: boolean
  dispose(): void
}

export interface LiveClient {
  client: Client
  /** Close codes the socket was closed with, in order. */
  closes: { code: number; reason: string }[]
  acknowledged: boolean
  subscribe<T = Record<string, unknown>>(query: string, variables?: Record<string, unknown>): Recorded<T>
  close(): Promise<void>
}

/**
 * A graphql-ws client over `ws` (what a browser's or Node's client speaks), not retrying, so a
 * refusal shows as the close code the server sent. `headers` go on the upgrade request (a browser
 * sends the cookie and Origin there).
 */
export function liveClient(
  url: string,
  options: { authorization?: string; headers?: Record<string, string> } = {},
): LiveClient {
  const closes: { code: number; reason: string }[] = []
  const headers = options.headers
  class HeaderSocket extends WebSocket {
    constructor(address: string, protocols?: string | string[]) {
      super(address, protocols, headers ? { headers } : {})
    }
  }
  const live: LiveClient = {
    closes,
    acknowledged: false,
    client: createClient({
      url,
      webSocketImpl: HeaderSocket,
      lazy: false,
      retryAttempts: 0,
      connectionParams: options.authorization ? { authorization: options.authorization } : {},
      onNonLazyError: () => {},
      on: {
        connected: () => {
          live.acknowledged = true
        },
        closed: (event) => {
          const e = event as { code: number; reason: string }
          closes.push({ code: e.code, reason: String(e.reason) })
        },
      },
    }),
    subscribe<T>(query: string, variables?: Record<string, unknown>) {
      const recorded: Recorded<T> = {
        events: [],
        errors: [],
        completed: false,
        dispose: () => {},
      }
      recorded.dispose = live.client.subscribe<T>(
        { query, ...(variables ? { variables } : {}) },
        {
          next: (value) => {
            if (value.errors) recorded.errors.push(...(value.errors as Recorded['errors']))
            if (value.data) recorded.events.push(value.data as T)
          },
          error: (error) => {
            if (Array.isArray(error)) recorded.errors.push(...error)
            else recorded.errors.push({ message: String((error as Error).message ?? error) })
          },
          complete: () => {
            recorded.completed = true
          },
        },
      )
      return recorded
    },
    async close() {
      await live.client.dispose()
    },
  }
  return live
}
