import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { type Logger, silentLogger } from '../logger.ts'
import {
  type FailurePlan,
  type FailureRates,
  failureStatus,
  rateFailure,
  type SimulatedFailure,
  validFailureRates,
} from './failures.ts'
import {
  type NetworkOptions,
  type NetworkStats,
  SimulatedNetwork,
  type SimulatedTrackerInput,
} from './network.ts'

export interface SimulatorOptions extends NetworkOptions {
  /** HTTP Basic credentials the endpoint demands; none by default. */
  auth?: { username: string; password: string }
  host?: string
  /** 0 (default) picks a free port. */
  port?: number
  /** The simulator's clock (default: the real one); tests move it to make late reports appear. */
  now?: () => Date
  failures?: FailurePlan
  /**
   * Seeded shares of requests that fail at random, like Apple's fetch since about April 2026; a
   * `failures` plan that decides a request wins over them. Also settable later with `setFailureRates`.
   */
  failureRates?: FailureRates
  logger?: Logger
  /** Requests kept in `requests` (default 10 000, the newest). */
  maxRecordedRequests?: number
}

export interface RecordedRequest {
  number: number
  /** When the request arrived (ms since the Unix epoch, real clock). */
  receivedAt: number
  method: string
  path: string
  /** The ids of a POST, as sent. */
  ids: string[]
  days: number | null
  authorized: boolean
  failure: SimulatedFailure['type'] | null
  /** What chose `failure`: the scripted `failures` plan or the `failureRates`; null without a failure. */
  failureSource: 'plan' | 'rate' | null
  /** The ids the reports were looked up for (only the first with `firstIdOnly`); empty when none were. */
  answeredIds: string[]
  /** null: no answer (connection reset, or the client went away during a slow answer). */
  status: number | null
  reports: number
}

export interface SimulatorStats extends NetworkStats {
  requests: number
  reportsServed: number
}

export interface RunningSimulator {
  url: string
  port: number
  network: SimulatedNetwork
  readonly requests: readonly RecordedRequest[]
  readonly stats: SimulatorStats
  setFailures(plan: FailurePlan | null): void
  setFailureRates(rates: FailureRates | null): void
  addTracker(tracker: SimulatedTrackerInput): void
  clearRequests(): void
  stop(): Promise<void>
}

const MAX_BODY_BYTES = 1_000_000

/**
 * An HTTP server that speaks the macless-haystack report endpoint's protocol (mh_endpoint.py):
 * POST any path `{"ids": [...], "days": N}`, optional Basic auth, GET as a liveness check, 200 with
 * Apple's JSON and no Content-Type, 501/504 without body, the devrandom0 fork's 503.
 */
export async function startSimulator(options: SimulatorOptions): Promise<RunningSimulator> {
  const network = new SimulatedNetwork(options)
  const now = options.now ?? (() => new Date())
  const logger = options.logger ?? silentLogger
  const maxRecorded = options.maxRecordedRequests ?? 10_000
  const expectedAuthorization = options.auth
    ? `Basic ${Buffer.from(`${options.auth.username}:${options.auth.password}`, 'utf8').toString('base64')}`
    : null
  const stopping = new AbortController()
  let plan: FailurePlan = copyPlan(options.failures)
  const seed = options.seed ?? 1
  let rates = validFailureRates(options.failureRates ?? {})
  let requestCount = 0
  let reportsServed = 0
  const requests: RecordedRequest[] = []

  const nextFailure = (info: {
    number: number
    ids: string[]
    days: number
  }): { failure: SimulatedFailure; source: 'plan' | 'rate' } | null => {
    // A scripted entry decides its request, also a null one (it lets the request through).
    if (plan.next && plan.next.length > 0) {
      const failure = plan.next.shift()
      return failure ? { failure, source: 'plan' } : null
    }
    const planned = plan.when?.(info)
    if (planned) return { failure: planned, source: 'plan' }
    const rated = rateFailure(rates, seed, info.number)
    return rated ? { failure: rated, source: 'rate' } : null
  }

  async function handle(req: IncomingMessage, res: ServerResponse, record: RecordedRequest): Promise<void> {
    const finish = (status: number, body?: string, headers: Record<string, string> = {}) => {
      record.status = status
      res.writeHead(status, headers)
      res.end(body)
    }
    if (req.method === 'GET') return finish(200, 'Nothing to see here')
    // BaseHTTPRequestHandler answers methods it has no handler for with 501.
    if (req.method !== 'POST') return finish(501)
    const unauthorized = () =>
      finish(401, 'Not authenticated', { 'WWW-Authenticate': 'Basic realm="Auth Realm"' })
    if (expectedAuthorization !== null && req.headers.authorization !== expectedAuthorization) {
      record.authorized = false
      return unauthorized()
    }
    const body = await readBody(req)
    const request = parseRequest(body)
    if (!request) return finish(501)
    record.ids = request.ids
    record.days = request.days
    const chosen = nextFailure({ number: record.number, ...request })
    const failure = chosen?.failure
    record.failure = failure?.type ?? null
    record.failureSource = chosen?.source ?? null
    switch (failure?.type) {
      case 'unauthorized':
        return unauthorized()
      case 'server_error':
      case 'anisette_timeout':
        return finish(failureStatus(failure)!)
      case 'session_expired':
        return finish(503, JSON.stringify({ error: 'apple_session_expired' }))
      case 'empty_body':
        return finish(200)
      case 'missing_results':
        return finish(200, JSON.stringify({ statusCode: '200' }))
      case 'invalid_json':
        return finish(200, '{"results": [{"datePublished": 17')
      case 'connection_reset':
        req.socket.destroy()
        return
      case 'slow': {
        const clientGone = new AbortController()
        res.on('close', () => clientGone.abort())
        try {
          await sleep(failure.delayMs, undefined, {
            signal: AbortSignal.any([stopping.signal, clientGone.signal]),
          })
        } catch {
          return
        }
        break
      }
    }
    record.answeredIds = network.answeredIds(request.ids)
    const reports = network.answer(request.ids, request.days, now())
    record.reports = reports.length
    reportsServed += reports.length
    // Apple's response with `results` rebuilt by the endpoint; the endpoint sends no Content-Type.
    finish(
      200,
      JSON.stringify({
        results: reports.map((report) => ({
          datePublished: report.datePublished,
          payload: report.payload,
          description: 'found',
          id: report.id,
          statusCode: 0,
        })),
        statusCode: '200',
      }),
    )
  }

  const server = createServer((req, res) => {
    const record: RecordedRequest = {
      number: ++requestCount,
      receivedAt: Date.now(),
      method: req.method ?? '',
      path: req.url ?? '/',
      ids: [],
      days: null,
      authorized: true,
      failure: null,
      failureSource: null,
      answeredIds: [],
      status: null,
      reports: 0,
    }
    requests.push(record)
    if (requests.length > maxRecorded) requests.splice(0, requests.length - maxRecorded)
    handle(req, res, record)
      .catch((error: unknown) => {
        logger.error({ request: record.number, err: (error as Error).message }, 'simulator request failed')
        if (!res.headersSent) {
          record.status = 501
          res.writeHead(501).end()
        }
      })
      .finally(() => {
        logger.debug(
          {
            request: record.number,
            method: record.method,
            ids: record.ids.length,
            days: record.days,
            status: record.status,
            reports: record.reports,
            failure: record.failure,
            failureSource: record.failureSource,
          },
          'simulator request',
        )
      })
  })

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  const address = server.address() as AddressInfo
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
  let stopped: Promise<void> | undefined

  return {
    url: `http://${host}:${address.port}/`,
    port: address.port,
    network,
    requests,
    get stats() {
      return { ...network.stats, requests: requestCount, reportsServed }
    },
    setFailures(next) {
      plan = copyPlan(next ?? undefined)
    },
    setFailureRates(next) {
      rates = validFailureRates(next ?? {})
    },
    addTracker(tracker) {
      network.addTracker(tracker)
    },
    clearRequests() {
      requests.length = 0
    },
    stop() {
      stopped ??= new Promise<void>((resolve, reject) => {
        stopping.abort()
        server.close((error) => (error ? reject(error) : resolve()))
        server.closeAllConnections()
      })
      return stopped
    },
  }
}

function copyPlan(plan: FailurePlan | undefined): FailurePlan {
  return { ...(plan?.next ? { next: [...plan.next] } : {}), ...(plan?.when ? { when: plan.when } : {}) }
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > MAX_BODY_BYTES) throw new Error('request body too large')
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks).toString('utf8')
}

/** mh_endpoint.py: `ids` is required, `days` defaults to 7. Anything else fails like the real one (501). */
function parseRequest(body: string): { ids: string[]; days: number } | null {
  let parsed: unknown
  try {
    parsed = JSON.parse(body)
  } catch {
    return null
  }
  if (typeof parsed !== 'object' || parsed === null) return null
  const { ids, days } = parsed as { ids?: unknown; days?: unknown }
  if (!Array.isArray(ids) || !ids.every((id) => typeof id === 'string')) return null
  if (days !== undefined && (typeof days !== 'number' || !Number.isFinite(days))) return null
  return { ids, days: days ?? 7 }
}
