import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface Receipt {
  method: string
  path: string
  headers: IncomingHttpHeaders
  body: string
  /** When the whole request had arrived. */
  at: number
}

/** What the receiver answers the nth request (0-based): a status, or hold it open until released. */
export type Answer =
  | {
      status: number
      headers?: Record<string, string>
      body?: string /** answer this much later */
      delayMs?: number
    }
  | 'hold'

/**
 * A real HTTP server on 127.0.0.1 that records every request and answers as the test says: a
 * webhook receiver, or a stand-in for an ntfy server.
 */
export class HttpReceiver {
  readonly receipts: Receipt[] = []
  readonly #held = new Set<ServerResponse>()
  readonly #server: Server
  answer: (receipt: Receipt, index: number) => Answer = () => ({ status: 204 })

  private constructor(server: Server) {
    this.#server = server
  }

  static async start(): Promise<HttpReceiver> {
    const server = createServer()
    const receiver = new HttpReceiver(server)
    server.on('request', (req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (chunk: Buffer) => chunks.push(chunk))
      req.on('end', () => {
        const receipt: Receipt = {
          method: req.method ?? '',
          path: req.url ?? '',
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          at: Date.now(),
        }
        const index = receiver.receipts.push(receipt) - 1
        const answer = receiver.answer(receipt, index)
        if (answer === 'hold') {
          receiver.#held.add(res)
          res.on('close', () => receiver.#held.delete(res))
          return
        }
        const reply = () => {
          res.writeHead(answer.status, answer.headers ?? {})
          res.end(answer.body ?? '')
        }
        if (answer.delayMs) setTimeout(reply, answer.delayMs)
        else reply()
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    return receiver
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`
  }

  /** Requests still held open (a request whose sender died is gone from here). */
  get held(): number {
    return this.#held.size
  }

  /** The receipts carrying this idempotency key (webhook-id). */
  withId(id: string): Receipt[] {
    return this.receipts.filter((r) => r.headers['webhook-id'] === id)
  }

  /** Answers every held request. */
  release(status = 200): void {
    for (const res of this.#held) {
      res.writeHead(status)
      res.end()
    }
  }

  async close(): Promise<void> {
    for (const res of this.#held) res.destroy()
    this.#server.closeAllConnections()
    await new Promise<void>((resolve) => this.#server.close(() => resolve()))
  }
}
