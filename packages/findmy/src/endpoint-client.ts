import { setTimeout as sleep } from 'node:timers/promises'
import { type Logger, silentLogger } from './logger.ts'
import type { EndpointReport } from './report.decrypt.ts'

export type ReportEndpointErrorCode =
  | 'UNAUTHORIZED'
  | 'SERVER_ERROR'
  | 'TIMEOUT'
  | 'EMPTY_RESPONSE'
  | 'BAD_RESPONSE'
  | 'NETWORK'

export class ReportEndpointError extends Error {
  readonly code: ReportEndpointErrorCode
  readonly status?: number
  /** Whether asking again may help (5xx, timeouts, network errors, an empty 200). */
  readonly retryable: boolean
  /** On the error a batch gave up with: how many requests it made. */
  readonly attempts?: number
  constructor(
    code: ReportEndpointErrorCode,
    message: string,
    details: { status?: number; retryable?: boolean; attempts?: number; cause?: unknown } = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause })
    this.code = code
    if (details.status !== undefined) this.status = details.status
    this.retryable = details.retryable ?? false
    if (details.attempts !== undefined) this.attempts = details.attempts
  }
}

export interface ReportEndpointClientOptions {
  /** The endpoint's URL; POST goes to it as given (the endpoint ignores the path). */
  url: string
  username?: string
  password?: string
  /** Ids per request (default 5): the endpoint de-duplicates across ids by timestamp and Apple caps reports per request. */
  batchSize?: number
  /** Per request, including reading the answer (default 30 s). */
  timeoutMs?: number
  /** Requests per batch before giving up (default 3). */
  maxAttempts?: number
  /** The first retry waits this long, each further one twice as long (default 2 s). */
  backoffMs?: number
  maxBackoffMs?: number
  /** Between any two requests (default 1 s): polling too fast has got accounts banned. */
  pauseBetweenRequestsMs?: number
  logger?: Logger
  /**
   * Called once per HTTP request, retries included, when its outcome is known. A request cut short
   * by the caller's `signal` is not reported (the caller stopped, the endpoint did not fail).
   */
  onRequest?: (event: EndpointRequestEvent) => void
  /**
   * Which of `ids` are expected to have reports now (e.g. they had some within the lookback). Asked
   * only after a multi-id answer with reports for no id but the first: the expected ones that got
   * none are then asked for one by one. Without it, such answers are taken as they are.
   */
  expectedIds?: (ids: string[]) => Promise<Set<string>>
  /**
   * Awaited before every HTTP request, retries included (the importer's request budget: it resolves
   * once a request may be made, and rejects with the signal's reason when the caller stops).
   */
  beforeRequest?: (signal?: AbortSignal) => Promise<void>
}

/**
 * What one request to the endpoint came to.
 * ok: 200 with `results`. empty: 200 with an empty body or without `results`. unauthorized: 401.
 * server_error: 5xx. timeout: no answer within timeoutMs. failed: unreachable, or any other bad
 * answer (other statuses, a body that is not the endpoint's JSON). partial: 200 with reports for
 * the first id only while other ids were expected to have some (Apple has answered multi-id
 * requests that way).
 */
export type EndpointRequestOutcome =
  | 'ok'
  | 'empty'
  | 'unauthorized'
  | 'server_error'
  | 'timeout'
  | 'partial'
  | 'failed'

export const ENDPOINT_REQUEST_OUTCOMES: readonly EndpointRequestOutcome[] = [
  'ok',
  'partial',
  'empty',
  'unauthorized',
  'server_error',
  'timeout',
  'failed',
]

/** ok and partial: the endpoint answered; every other outcome is a failing request. */
export const isFailingOutcome = (outcome: EndpointRequestOutcome): boolean =>
  outcome !== 'ok' && outcome !== 'partial'

export interface EndpointRequestEvent {
  outcome: EndpointRequestOutcome
  /** How many ids the request asked for. */
  ids: number
  /** The HTTP status, null when none came (timeout, network error). */
  status: number | null
  durationMs: number
  /** The batch (0-based) it was made for. */
  batch: number
  /** 1 for a batch's (or an id's) first request, then its retries. */
  attempt: number
  /** A single-id request after a suspected "first id only" answer. */
  alone: boolean
  /** When the answer (or the failure) came. */
  at: Date
}

/** Requests by outcome; outcomes that did not occur are left out. */
export type EndpointRequestCounts = Partial<Record<EndpointRequestOutcome, number>>

export type BatchResult =
  | {
      index: number
      ids: string[]
      ok: true
      reports: EndpointReport[]
      /** Requests of the batch itself (its retries included, the single-id requests not). */
      attempts: number
      /** Entries without a string id or payload, left out (and logged as a warning). */
      skippedEntries?: number
      /** Every request the batch made, by outcome (single-id requests included). */
      requests: EndpointRequestCounts
      /**
       * Ids asked for again one by one because the batch's answer had reports for the first id
       * only while they were expected to have some; their reports are in `reports`.
       */
      retriedAlone: string[]
      /** Reports those single-id requests brought. */
      recoveredReports: number
      /** Ids whose single-id request failed for good (their reports come with a later run). */
      aloneFailures: { id: string; error: ReportEndpointError }[]
    }
  | {
      index: number
      ids: string[]
      ok: false
      error: ReportEndpointError
      attempts: number
      requests: EndpointRequestCounts
    }

/** One request with its retries: the answer, or the error it gave up with. */
type Attempted =
  | {
      ok: true
      reports: EndpointReport[]
      skippedEntries: number
      attempts: number
      /** The successful request, to report once its outcome (ok or partial) is known. */
      request: Omit<EndpointRequestEvent, 'outcome'>
    }
  | { ok: false; error: ReportEndpointError; attempts: number }

/** Per fetchBatches call: requests made so far, and the 401 that stops the rest. */
interface FetchState {
  requestsSent: number
  refused: ReportEndpointError | undefined
  signal: AbortSignal | undefined
  days: number
  batches: number
}

const DEFAULTS = {
  batchSize: 5,
  timeoutMs: 30_000,
  maxAttempts: 3,
  backoffMs: 2_000,
  maxBackoffMs: 60_000,
  pauseBetweenRequestsMs: 1_000,
}

/**
 * Client of the macless-haystack report endpoint (`POST {ids, days}`). Batches run one after the
 * other; a batch that fails for good is reported as such and the others go on.
 */
export class ReportEndpointClient {
  /** The URL without credentials: safe to log. */
  readonly endpoint: string
  readonly #url: string
  readonly #authorization: string | undefined
  readonly #options: typeof DEFAULTS
  readonly #logger: Logger
  readonly #onRequest: ((event: EndpointRequestEvent) => void) | undefined
  readonly #expectedIds: ((ids: string[]) => Promise<Set<string>>) | undefined
  readonly #beforeRequest: ((signal?: AbortSignal) => Promise<void>) | undefined

  constructor(options: ReportEndpointClientOptions) {
    let url: URL
    try {
      url = new URL(options.url)
    } catch {
      throw new TypeError(`the report endpoint URL "${redactUrlText(options.url)}" is not a URL`)
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new TypeError(`the report endpoint URL must be http or https, got ${url.protocol}`)
    }
    // fetch() refuses URLs with credentials in them; move them to the Authorization header.
    const username = options.username ?? (url.username ? decodeURIComponent(url.username) : undefined)
    const password = options.password ?? (url.password ? decodeURIComponent(url.password) : undefined)
    url.username = ''
    url.password = ''
    this.#url = url.href
    this.endpoint = `${url.origin}${url.pathname}`
    this.#authorization =
      username !== undefined
        ? `Basic ${Buffer.from(`${username}:${password ?? ''}`, 'utf8').toString('base64')}`
        : undefined
    this.#options = {
      batchSize: positiveInteger('batchSize', options.batchSize ?? DEFAULTS.batchSize),
      timeoutMs: positiveInteger('timeoutMs', options.timeoutMs ?? DEFAULTS.timeoutMs),
      maxAttempts: positiveInteger('maxAttempts', options.maxAttempts ?? DEFAULTS.maxAttempts),
      backoffMs: nonNegative('backoffMs', options.backoffMs ?? DEFAULTS.backoffMs),
      maxBackoffMs: nonNegative('maxBackoffMs', options.maxBackoffMs ?? DEFAULTS.maxBackoffMs),
      pauseBetweenRequestsMs: nonNegative(
        'pauseBetweenRequestsMs',
        options.pauseBetweenRequestsMs ?? DEFAULTS.pauseBetweenRequestsMs,
      ),
    }
    this.#logger = options.logger ?? silentLogger
    this.#onRequest = options.onRequest
    this.#expectedIds = options.expectedIds
    this.#beforeRequest = options.beforeRequest
  }

  /**
   * Fetches the reports of `ids` for the last `days` days, one batch after the other. Every batch
   * yields exactly one result. After a 401 the remaining batches fail without a request (attempts 0):
   * the credentials are wrong for all of them. Aborting `signal` stops with its reason.
   *
   * A multi-id answer with reports for no id but the first is checked against `expectedIds`: the
   * expected ids that got none are asked for one by one (same pause, same retries), their reports
   * added to the batch, and the suspect request reported `partial`.
   */
  async *fetchBatches(
    ids: readonly string[],
    days: number,
    signal?: AbortSignal,
  ): AsyncGenerator<BatchResult> {
    if (!Number.isInteger(days) || days < 1)
      throw new RangeError(`days must be a positive integer, got ${days}`)
    const unique = [...new Set(ids)]
    const { batchSize } = this.#options
    const batchCount = Math.ceil(unique.length / batchSize)
    const state: FetchState = { requestsSent: 0, refused: undefined, signal, days, batches: batchCount }
    for (let index = 0; index < batchCount; index++) {
      signal?.throwIfAborted()
      const batchIds = unique.slice(index * batchSize, (index + 1) * batchSize)
      const batch = { batch: index + 1, batches: batchCount, ids: batchIds.length, endpoint: this.endpoint }
      if (state.refused) {
        yield { index, ids: batchIds, ok: false, error: state.refused, attempts: 0, requests: {} }
        continue
      }
      const requests: EndpointRequestCounts = {}
      const attempted = await this.#attempt(state, batchIds, index, false, requests)
      if (!attempted.ok) {
        this.#logger.error(
          {
            ...batch,
            attempts: attempted.attempts,
            code: attempted.error.code,
            status: attempted.error.status,
            err: (attempted.error.cause as Error | undefined)?.message ?? attempted.error.message,
          },
          'giving up on a report batch',
        )
        yield {
          index,
          ids: batchIds,
          ok: false,
          error: attempted.error,
          attempts: attempted.attempts,
          requests,
        }
        continue
      }
      const { reports, skippedEntries } = attempted
      if (skippedEntries > 0) {
        this.#logger.warn(
          { ...batch, skippedEntries },
          'the report endpoint sent entries without id or payload',
        )
      }
      const suspects = await this.#firstIdOnlySuspects(batchIds, reports, batch)
      this.#emit({ ...attempted.request, outcome: suspects.length > 0 ? 'partial' : 'ok' }, requests)
      const result: Extract<BatchResult, { ok: true }> = {
        index,
        ids: batchIds,
        ok: true,
        reports,
        attempts: attempted.attempts,
        skippedEntries,
        requests,
        retriedAlone: [],
        recoveredReports: 0,
        aloneFailures: [],
      }
      if (suspects.length > 0) {
        this.#logger.info(
          { ...batch, firstId: batchIds[0], retryingAlone: suspects.length },
          'the report endpoint answered for the first id only while others expect reports: asking for them one by one',
        )
        for (const id of suspects) {
          if (state.refused) {
            result.aloneFailures.push({ id, error: state.refused })
            continue
          }
          result.retriedAlone.push(id)
          const alone = await this.#attempt(state, [id], index, true, requests)
          if (!alone.ok) {
            this.#logger.warn(
              { ...batch, id, attempts: alone.attempts, code: alone.error.code, err: alone.error.message },
              'a single-id request failed; its reports come with a later run',
            )
            result.aloneFailures.push({ id, error: alone.error })
            continue
          }
          this.#emit({ ...alone.request, outcome: 'ok' }, requests)
          const own = alone.reports.filter((report) => report.id === id)
          result.reports.push(...own)
          result.recoveredReports += own.length
          result.skippedEntries = (result.skippedEntries ?? 0) + alone.skippedEntries
        }
        this.#logger.info(
          {
            ...batch,
            retriedAlone: result.retriedAlone.length,
            recoveredReports: result.recoveredReports,
            failed: result.aloneFailures.length,
          },
          'single-id requests after a first-id-only answer done',
        )
      }
      yield result
    }
  }

  /**
   * The ids of a multi-id answer to ask for alone: when no id but the first got a report, those of
   * the others that `expectedIds` says should have some. A tracker's rotating keys mostly have no
   * reports at all, so silence alone proves nothing. A failing check is logged and taken as none:
   * the next run asks again for the whole lookback.
   */
  async #firstIdOnlySuspects(
    ids: string[],
    reports: readonly EndpointReport[],
    batch: Record<string, unknown>,
  ): Promise<string[]> {
    if (!this.#expectedIds || ids.length < 2) return []
    const answered = new Set(reports.map((report) => report.id))
    const silent = ids.slice(1)
    if (silent.some((id) => answered.has(id))) return []
    let expected: Set<string>
    try {
      expected = await this.#expectedIds(silent)
    } catch (error) {
      this.#logger.warn(
        { ...batch, err: (error as Error).message },
        'could not tell which ids expect reports; the answer is taken as it is',
      )
      return []
    }
    return silent.filter((id) => expected.has(id))
  }

  /**
   * One request for `ids` with its retries: a retryable failure is asked again with backoff up to
   * maxAttempts. Every failing request is reported at once; the successful one is left to the
   * caller, which decides whether it was ok or partial.
   */
  async #attempt(
    state: FetchState,
    ids: string[],
    index: number,
    alone: boolean,
    requests: EndpointRequestCounts,
  ): Promise<Attempted> {
    const { maxAttempts, pauseBetweenRequestsMs } = this.#options
    const { signal, days } = state
    const context = {
      batch: index + 1,
      ids: ids.length,
      endpoint: this.endpoint,
      ...(alone ? { alone } : {}),
    }
    for (let attempt = 1; ; attempt++) {
      // A retry waits its backoff, and never less than the pause every request keeps from the last one.
      let wait = state.requestsSent > 0 ? pauseBetweenRequestsMs : 0
      if (attempt > 1) wait = Math.max(wait, this.#backoff(attempt - 1))
      if (wait > 0) await pause(wait, signal)
      // Before the request's clock starts: waiting for the budget is not the endpoint being slow.
      if (this.#beforeRequest) await this.#beforeRequest(signal)
      state.requestsSent++
      this.#logger.debug({ ...context, attempt }, 'requesting reports')
      const started = performance.now()
      const request = { ids: ids.length, batch: index, attempt, alone }
      try {
        const answer = await this.#request(ids, days, signal)
        const durationMs = Math.round(performance.now() - started)
        this.#logger.debug(
          { ...context, attempt, reports: answer.reports.length, durationMs },
          'reports received',
        )
        return {
          ok: true,
          ...answer,
          attempts: attempt,
          request: { ...request, status: 200, durationMs, at: new Date() },
        }
      } catch (error) {
        if (signal?.aborted) throw signal.reason
        const failure = asEndpointError(error)
        this.#emit(
          {
            ...request,
            outcome: outcomeOf(failure),
            status: failure.status ?? null,
            durationMs: Math.round(performance.now() - started),
            at: new Date(),
          },
          requests,
        )
        if (failure.retryable && attempt < maxAttempts) {
          this.#logger.warn(
            {
              ...context,
              attempt,
              maxAttempts,
              code: failure.code,
              status: failure.status,
              err: failure.message,
            },
            'report request failed, retrying',
          )
          continue
        }
        const what = `${alone ? `id ${ids[0]} alone, ` : ''}batch ${index + 1} of ${state.batches}`
        const gaveUp = failure.retryable
          ? new ReportEndpointError(
              failure.code,
              `${what} (${ids.length} ids) failed after ${attempt} attempts; last failure: ${failure.message}`,
              { status: failure.status, retryable: true, attempts: attempt, cause: failure },
            )
          : new ReportEndpointError(failure.code, `${what} (${ids.length} ids): ${failure.message}`, {
              status: failure.status,
              attempts: attempt,
              cause: failure,
            })
        if (failure.code === 'UNAUTHORIZED') state.refused = gaveUp
        return { ok: false, error: gaveUp, attempts: attempt }
      }
    }
  }

  #emit(event: EndpointRequestEvent, requests: EndpointRequestCounts): void {
    requests[event.outcome] = (requests[event.outcome] ?? 0) + 1
    if (!this.#onRequest) return
    try {
      this.#onRequest(event)
    } catch (error) {
      // A listener's bug must not stop the import.
      this.#logger.error({ err: (error as Error).message }, 'the onRequest listener failed')
    }
  }

  #backoff(retry: number): number {
    return Math.min(this.#options.maxBackoffMs, this.#options.backoffMs * 2 ** (retry - 1))
  }

  async #request(
    ids: string[],
    days: number,
    signal: AbortSignal | undefined,
  ): Promise<{ reports: EndpointReport[]; skippedEntries: number }> {
    const timeout = AbortSignal.timeout(this.#options.timeoutMs)
    const requestSignal = signal ? AbortSignal.any([signal, timeout]) : timeout
    const headers: Record<string, string> = { 'content-type': 'application/json' }
    if (this.#authorization) headers.authorization = this.#authorization
    let status: number
    let text: string
    try {
      const response = await fetch(this.#url, {
        method: 'POST',
        headers,
        body: JSON.stringify({ ids, days }),
        signal: requestSignal,
      })
      status = response.status
      text = await response.text()
    } catch (error) {
      if (timeout.aborted && !signal?.aborted) {
        throw new ReportEndpointError(
          'TIMEOUT',
          `the report endpoint did not answer within ${this.#options.timeoutMs} ms`,
          {
            retryable: true,
            cause: error,
          },
        )
      }
      if (signal?.aborted) throw error
      const cause = (error as { cause?: { code?: string; message?: string } }).cause
      throw new ReportEndpointError(
        'NETWORK',
        `the report endpoint ${this.endpoint} could not be reached (${cause?.code ?? cause?.message ?? (error as Error).message})`,
        { retryable: true, cause: error },
      )
    }
    return parseResponse(status, text, this.#authorization !== undefined)
  }
}

/** Waits, or throws the abort reason itself (timers/promises would wrap it in an AbortError). */
async function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  try {
    await sleep(ms, undefined, { signal })
  } catch (error) {
    if (signal?.aborted) throw signal.reason
    throw error
  }
}

function parseResponse(
  status: number,
  text: string,
  sentCredentials: boolean,
): { reports: EndpointReport[]; skippedEntries: number } {
  if (status === 401) {
    throw new ReportEndpointError(
      'UNAUTHORIZED',
      sentCredentials
        ? 'the report endpoint refused the credentials (HTTP 401): check the username and password configured for it'
        : 'the report endpoint requires credentials (HTTP 401) and none are configured',
      { status },
    )
  }
  if (status >= 500) {
    throw new ReportEndpointError('SERVER_ERROR', serverErrorMessage(status, text), {
      status,
      retryable: true,
    })
  }
  if (status !== 200) {
    // 408 and 429 come from proxies in front of the endpoint and pass; anything else is a wrong URL or setup.
    const retryable = status === 408 || status === 429
    throw new ReportEndpointError(
      'BAD_RESPONSE',
      `the report endpoint answered HTTP ${status}${retryable ? '' : ': is the URL the report endpoint?'}`,
      { status, retryable },
    )
  }
  if (text.trim() === '') {
    throw new ReportEndpointError('EMPTY_RESPONSE', 'the report endpoint answered 200 with an empty body', {
      status,
      retryable: true,
    })
  }
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    throw new ReportEndpointError(
      'BAD_RESPONSE',
      `the report endpoint answered 200 with a body that is not JSON`,
      {
        status,
        retryable: true,
      },
    )
  }
  const results =
    typeof body === 'object' && body !== null ? (body as { results?: unknown }).results : undefined
  if (results === undefined || results === null) {
    throw new ReportEndpointError('EMPTY_RESPONSE', 'the report endpoint answered 200 without "results"', {
      status,
      retryable: true,
    })
  }
  if (!Array.isArray(results)) {
    throw new ReportEndpointError(
      'BAD_RESPONSE',
      'the report endpoint answered 200 with "results" that is not a list',
      {
        status,
        retryable: true,
      },
    )
  }
  const reports: EndpointReport[] = []
  for (const entry of results) {
    if (typeof entry !== 'object' || entry === null) continue
    const { id, payload, datePublished } = entry as Record<string, unknown>
    if (typeof id !== 'string' || typeof payload !== 'string') continue
    // Kept even without a usable datePublished: the payload carries the position and its own timestamp.
    const published = typeof datePublished === 'string' ? Number(datePublished) : datePublished
    reports.push({
      ...(entry as object),
      id,
      payload,
      datePublished: typeof published === 'number' ? published : Number.NaN,
    })
  }
  return { reports, skippedEntries: results.length - reports.length }
}

function serverErrorMessage(status: number, text: string): string {
  let detail = ''
  try {
    const body = JSON.parse(text) as { error?: unknown }
    if (typeof body?.error === 'string') detail = body.error
  } catch {
    // The endpoint's 501 and 504 have no body.
  }
  if (detail === 'apple_session_expired') {
    return `the report endpoint's Apple session expired (HTTP ${status} apple_session_expired): sign in again on the endpoint`
  }
  if (status === 504) return "the report endpoint's anisette server timed out (HTTP 504)"
  if (status === 501) return 'the report endpoint could not fetch reports from Apple (HTTP 501)'
  return `the report endpoint failed (HTTP ${status}${detail ? ` ${detail}` : ''})`
}

function outcomeOf(error: ReportEndpointError): EndpointRequestOutcome {
  switch (error.code) {
    case 'UNAUTHORIZED':
      return 'unauthorized'
    case 'SERVER_ERROR':
      return 'server_error'
    case 'TIMEOUT':
      return 'timeout'
    case 'EMPTY_RESPONSE':
      return 'empty'
    default:
      return 'failed'
  }
}

function asEndpointError(error: unknown): ReportEndpointError {
  if (error instanceof ReportEndpointError) return error
  return new ReportEndpointError(
    'NETWORK',
    `the report request failed: ${(error as Error)?.message ?? error}`,
    {
      retryable: true,
      cause: error,
    },
  )
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1)
    throw new RangeError(`${name} must be a positive integer, got ${value}`)
  return value
}

function nonNegative(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0)
    throw new RangeError(`${name} must be a number >= 0, got ${value}`)
  return value
}

function redactUrlText(text: string): string {
  return text.replace(/\/\/[^/@]*@/, '//***@')
}
