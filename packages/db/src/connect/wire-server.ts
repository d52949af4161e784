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

/**
 * Serves the Postgres wire protocol for the embedded engine on a local port, so `psql` and the seed's
 * troubleshooting SQL work against it. Every client message is handed to the engine's single session
 * as is, one at a time under the engine's mutex, between the apps' own statements. It is for queries:
 * a transaction a client leaves open would be shared with the apps, so keep to single statements.
 */
export async function serveWireProtocol(
  database: EmbeddedDatabase,
  options: { port: number; host?: string; logger?: Logger },
): Promise<WireServer> {
  const logger = options.logger ?? silentLogger
  const host = options.host ?? '127.0.0.1'
  const sockets = new Set<Socket>()
  let nextPid = 1

  const server: Server = createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', (error) => logger.debug({ err: error }, 'wire client error'))
    const pid = nextPid++
    let buffer = Buffer.alloc(0)
    let started = false
    let queue: Promise<void> = Promise.resolve()

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
        socket.end(
          message(
            'E',
            Buffer.concat([
              cstring('SERROR'),
              cstring('C08P01'),
              cstring(`unsupported protocol ${code}`),
              Buffer.from([0]),
            ]),
          ),
        )
      }
      return true
    }

    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk])
      while (!started && handleStartup()) {}
      while (started && buffer.length >= 5) {
        const length = buffer.readInt32BE(1)
        if (buffer.length < length + 1) break
        const frame = buffer.subarray(0, length + 1)
        buffer = buffer.subarray(length + 1)
        if (frame[0] === 0x58 /* X: Terminate */) {
          socket.end()
          return
        }
        const copy = Uint8Array.from(frame)
        queue = queue
          .then(async () => {
            const reply = await database.engineMutex.run(() => database.engine.execProtocolRaw(copy))
            if (!socket.destroyed) socket.write(reply)
          })
          .catch((error) => {
            logger.warn({ err: error }, 'wire protocol message failed')
            socket.destroy()
          })
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
