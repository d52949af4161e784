import type { AddressInfo } from 'node:net'
import { createServer, type Server, type Socket } from 'node:net'
import type { EmbeddedDatabase } from './embedded.ts'
import { type Logger, silentLogger } from './logger.ts'

const SSL_REQUEST = 80877103
const GSSENC_REQUEST = 80877104
const CANCEL_REQUEST = 80877102
const PROTOCOL_3 = 196608

export interface WireServer {
  readonly port: number
  readonly host: string
  close(): Promise<void>
}

function message(type: string, body: Buffer): Buffer {
  const header = Buffer.alloc(5)
  header.write(type, 0, 'latin1')
  header.writeInt32BE(body.length + 4, 1)
  return Buffer.concat([header, body])
}

const int32 = (n: number) => {
  const b = Buffer.alloc(4)
  b.writeInt32BE(n)
  return b
}
const cstring = (s: string) => Buffer.from(`${s}\0`, 'utf8')

function startupReply(pid: number): Buffer {
  const params: Record<string, string> = {
    server_version: '17.5',
    server_encoding: 'UTF8',
    client_encoding: 'UTF8',
    DateStyle: 'ISO, MDY',
    integer_datetimes: 'on',
    standard_conforming_strings: 'on',
    TimeZone: 'UTC',
    application_name: '',
  }
  return Buffer.concat([
    message('R', int32(0)), // AuthenticationOk: local port, trust like the machine's own server
    ...Object.entries(params).map(([k, v]) => message('S', Buffer.concat([cstring(k), cstring(v)]))),
    message('K', Buffer.concat([int32(pid), int32(0)])),
    message('Z', Buffer.from('I')),
  ])
}

/** The transaction status in the last ReadyForQuery ('Z') of a reply, or null when it holds none. */
function readyStatus(reply: Uint8Array): string | null {
  let status: string | null = null
  let at = 0
  while (at + 5 <= reply.length) {
    const length = (reply[at + 1]! << 24) | (reply[at + 2]! << 16) | (reply[at + 3]! << 8) | reply[at + 4]!
    if (reply[at] === 0x5a /* Z */ && at + 5 < reply.length) status = String.fromCharCode(reply[at + 5]!)
    at += 1 + length
  }
  return status
}

const errorResponse = (code: string, text: string) =>
  message('E', Buffer.concat([cstring('SFATAL'), cstring(`C${code}`), cstring(`M${text}`), Buffer.from([0])]))
const SYNC = Uint8Array.from(message('S', Buffer.alloc(0)))
const ROLLBACK = Uint8Array.from(message('Q', cstring('ROLLBACK')))

/** A client's frames, in order, for the one loop that hands them to the engine. */
class FrameQueue {
  readonly #frames: (Uint8Array | null)[] = []
  #wake: (() => void) | null = null

  push(frame: Uint8Array | null): void {
    this.#frames.push(frame)
    this.#wake?.()
    this.#wake = null
  }

  /** The next frame; null once the client is gone; 'timeout' after `ms` without one. */
  async next(ms = 0): Promise<Uint8Array | null | 'timeout'> {
    while (this.#frames.length === 0) {
      const arrived = new Promise<true>((resolve) => {
        this.#wake = () => resolve(true)
      })
      if (ms <= 0) {
        await arrived
        continue
      }
      let timer: NodeJS.Timeout | undefined
      const timedOut = await Promise.race([
        arrived.then(() => false),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(true), ms)
        }),
      ])
      clearTimeout(timer)
      if (timedOut && this.#frames.length === 0) return 'timeout'
    }
    return this.#frames.shift()!
  }
}

/**
 * Serves the Postgres wire protocol for the embedded engine on a local port, so `psql` and the seed's
 * troubleshooting SQL work against it. The engine has one session, which the apps share: a client
 * gets it, under the engine's mutex, from its first message until the engine is ready again outside
 * any transaction (the 'I' of ReadyForQuery). So a client's `BEGIN` holds the apps' statements back
 * until it commits or rolls back, instead of running them inside its transaction; a client that
 * disconnects inside a transaction is rolled back; one that sits idle in a transaction for longer
 * than `idleInTransactionMs` is rolled back and disconnected (as PostgreSQL's
 * idle_in_transaction_session_timeout), and the apps go on.
 */
export async function serveWireProtocol(
  database: EmbeddedDatabase,
  options: { port: number; host?: string; logger?: Logger; idleInTransactionMs?: number },
): Promise<WireServer> {
  const logger = options.logger ?? silentLogger
  const host = options.host ?? '127.0.0.1'
  const idleMs = options.idleInTransactionMs ?? 30_000
  const sockets = new Set<Socket>()
  let nextPid = 1
  const exec = (frame: Uint8Array) => database.engine.execProtocolRaw(frame)

  const server: Server = createServer((socket) => {
    sockets.add(socket)
    socket.on('error', (error) => logger.debug({ err: error }, 'wire client error'))
    const pid = nextPid++
    const frames = new FrameQueue()
    socket.on('close', () => {
      sockets.delete(socket)
      frames.push(null)
    })
    let buffer = Buffer.alloc(0)
    let started = false

    const handleStartup = (): boolean => {
      if (buffer.length < 8) return false
      const length = buffer.readInt32BE(0)
      if (buffer.length < length) return false
      const code = buffer.readInt32BE(4)
      buffer = buffer.subarray(length)
      if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
        socket.write('N')
      } else if (code === CANCEL_REQUEST) {
        socket.end()
      } else if (code === PROTOCOL_3) {
        started = true
        socket.write(startupReply(pid))
      } else {
        socket.end(errorResponse('08P01', `unsupported protocol ${code}`))
      }
      return true
    }

    const send = (reply: Uint8Array) => {
      if (!socket.destroyed) socket.write(reply)
    }

    /**
     * Runs `first` and every frame after it while the client is inside a transaction (or inside an
     * extended-protocol sequence not yet synced), all under one hold of the engine.
     */
    const serveTurn = (first: Uint8Array) =>
      database.engineMutex.run(async () => {
        let frame = first
        for (;;) {
          const reply = await exec(frame)
          send(reply)
          const status = readyStatus(reply)
          if (status === 'I') return
          const next = await frames.next(idleMs)
          if (next instanceof Uint8Array) {
            frame = next
            continue
          }
          // Gone or idle too long while holding the session: leave it as the apps expect it.
          if (status === null) await exec(SYNC)
          await exec(ROLLBACK)
          if (next === 'timeout') {
            logger.warn({ pid, idleMs }, 'wire client idle in a transaction: rolled back and disconnected')
            socket.end(errorResponse('25P03', 'terminating connection due to idle-in-transaction timeout'))
          } else {
            logger.info({ pid }, 'wire client left inside a transaction: rolled back')
          }
          frames.push(null)
          return
        }
      })

    void (async () => {
      for (;;) {
        const frame = await frames.next()
        if (!(frame instanceof Uint8Array)) return
        try {
          await serveTurn(frame)
        } catch (error) {
          logger.warn({ err: error }, 'wire protocol message failed')
          socket.destroy()
          return
        }
      }
    })()

    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk])
      while (!started && handleStartup()) {}
      while (started && buffer.length >= 5) {
        const length = buffer.readInt32BE(1)
        if (buffer.length < length + 1) break
        const frame = buffer.subarray(0, length + 1)
        buffer = buffer.subarray(length + 1)
        if (frame[0] === 0x58 /* X: Terminate */) {
          frames.push(null)
          socket.end()
          return
        }
        frames.push(Uint8Array.from(frame))
      }
    })
  })

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, host, () => resolve())
  })
  const port = (server.address() as AddressInfo).port
  logger.info({ host, port }, 'embedded database accepts Postgres connections')
  return {
    port,
    host,
    async close() {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
