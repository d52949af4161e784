import {
  type Database,
  ENDPOINT_REQUEST_HOURS_KEPT,
  type EndpointRequestStreak,
  type Kysely,
} from '@tracker/db'
import { type EndpointRequestEvent, type EndpointRequestOutcome, isFailingOutcome } from '@tracker/findmy'
import type { Logger } from 'pino'
import type { HealthCheckResult } from '../http/health-server.ts'
import type { ImporterMetrics } from '../http/importer-metrics.ts'
import {
  pruneEndpointRequestHours,
  readEndpointStreak,
  recordEndpointRequest,
} from './endpoint-requests.repository.ts'

const HOUR_MS = 3_600_000

export interface EndpointHealthOptions {
  db: Kysely<Database>
  metrics: ImporterMetrics
  logger: Logger
  /** Failing requests in a row (IMPORT_ENDPOINT_FAILURE_STREAK) that make /health degraded. */
  failureStreak: number
}

/**
 * The report endpoint's health as this importer sees it: every request's outcome is counted in
 * /metrics at once, and in the database (per hour, and the streak of failing requests) one write
 * after the other, so the API can show it and /health of any replica reads the same streak. A
 * write that fails is logged; requests go on.
 */
export class EndpointHealth {
  readonly #db: Kysely<Database>
  readonly #metrics: ImporterMetrics
  readonly #logger: Logger
  readonly #failureStreak: number
  #writes: Promise<void> = Promise.resolve()
  #prunedHour: number | null = null
  /** The streak before the latest write (null: not read yet), to log when it ends. */
  #failingBefore: number | null = null

  constructor(options: EndpointHealthOptions) {
    this.#db = options.db
    this.#metrics = options.metrics
    this.#logger = options.logger
    this.#failureStreak = options.failureStreak
  }

  /** The client's onRequest. */
  record(event: EndpointRequestEvent): void {
    this.#metrics.recordEndpointRequest(event.outcome)
    this.#writes = this.#writes
      .then(() => this.#write(event))
      .catch((error: unknown) => {
        this.#logger.warn(
          { err: (error as Error).message, outcome: event.outcome },
          'could not record a report endpoint request in the database',
        )
      })
  }

  /** Resolves once every request recorded so far is written (or its write failed). */
  flush(): Promise<void> {
    return this.#writes
  }

  /** /health's `endpoint` check: degraded once the streak reaches the threshold, ok again on an answer. */
  async check(): Promise<HealthCheckResult> {
    const streak = await readEndpointStreak(this.#db)
    if (!streak) return { ok: true, detail: 'no request yet' }
    const detail = {
      failingRequests: streak.failing_requests,
      threshold: this.#failureStreak,
      outcome: streak.outcome,
      since: streak.since?.toISOString() ?? null,
      lastOkAt: streak.last_ok_at?.toISOString() ?? null,
      lastRequestAt: streak.last_request_at.toISOString(),
    }
    if (streak.failing_requests < this.#failureStreak) return { ok: true, detail }
    return { ok: false, impact: 'degraded', detail: { ...detail, message: streakMessage(streak) } }
  }

  async #write(event: EndpointRequestEvent): Promise<void> {
    const hour = Math.floor(event.at.getTime() / HOUR_MS) * HOUR_MS
    const failing = isFailingOutcome(event.outcome)
    const threshold = this.#failureStreak
    this.#failingBefore ??= (await readEndpointStreak(this.#db))?.failing_requests ?? 0
    const streak = await recordEndpointRequest(this.#db, {
      hour: new Date(hour),
      outcome: event.outcome,
      at: event.at,
      failing,
    })
    if (failing && streak.failing_requests === threshold) {
      this.#logger.error(
        { failingRequests: streak.failing_requests, outcome: streak.outcome, since: streak.since },
        streakMessage(streak),
      )
    } else if (!failing && this.#failingBefore >= threshold) {
      this.#logger.info(
        { failedRequests: this.#failingBefore, outcome: event.outcome },
        'the report endpoint answers again',
      )
    }
    this.#failingBefore = streak.failing_requests
    if (this.#prunedHour !== hour) {
      await pruneEndpointRequestHours(this.#db, new Date(hour - ENDPOINT_REQUEST_HOURS_KEPT * HOUR_MS))
      this.#prunedHour = hour
    }
  }
}

/** What an operator should know about a streak of failing requests. */
export function streakMessage(streak: Pick<EndpointRequestStreak, 'failing_requests' | 'outcome'>): string {
  const n = streak.failing_requests
  const what: Record<EndpointRequestOutcome, string> = {
    unauthorized:
      "the report endpoint refused them (HTTP 401): the endpoint's credentials (REPORT_ENDPOINT_USERNAME, REPORT_ENDPOINT_PASSWORD) or its Apple account need attention",
    server_error:
      'the report endpoint failed them (HTTP 5xx): Apple, the endpoint or its anisette server is failing; runs keep trying',
    empty:
      'the report endpoint answered them 200 with an empty body: Apple answers nothing; runs keep trying',
    timeout: 'the report endpoint did not answer them in time (REPORT_ENDPOINT_TIMEOUT)',
    failed:
      'the report endpoint could not be reached, or answered something that is not its JSON: is REPORT_ENDPOINT_URL right and the endpoint up?',
    ok: 'the report endpoint answered',
    partial: 'the report endpoint answered',
  }
  const outcome = (streak.outcome ?? 'failed') as EndpointRequestOutcome
  return `${n} report endpoint requests failed in a row, the last ${outcome}: ${what[outcome] ?? what.failed}`
}
