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
}

export type BatchResult =
  | {
      index: number
      ids: string[]
      ok: true
      reports: EndpointReport[]
      attempts: number
      /** Entries without a string id or payload, left out (and logged as a warning). */
      skippedEntries?: number
    }
  | { index: number; ids: string[]; ok: false; error: ReportEndpointError; attempts: number }

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
  }

  /**
   * Fetches the reports of `ids` for the last `days` days, one batch after the other. Every batch
   * yields exactly one result. After a 401 the remaining batches fail without a request (attempts 0):
   * the credentials are wrong for all of them. Aborting `signal` stops with its reason.
   */
  async *fetchBatches(
    ids: readonly string[],
    days: number,
    signal?: AbortSignal,
  ): AsyncGenerator<BatchResult> {
    if (!Number.isInteger(days) || days < 1)
      throw new RangeError(`days must be a positive integer, got ${days}`)
    const unique = [...new Set(ids)]
    const { batchSize, maxAttempts, pauseBetweenRequestsMs } = this.#options
    const batchCount = Math.ceil(unique.length / batchSize)
    let requestsSent = 0
    let refused: ReportEndpointError | undefined
    for (let index = 0; index < batchCount; index++) {
      signal?.throwIfAborted()
      const batchIds = unique.slice(index * batchSize, (index + 1) * batchSize)
      const batch = { batch: index + 1, batches: batchCount, ids: batchIds.length, endpoint: this.endpoint }
      if (refused) {
        yield { index, ids: batchIds, ok: false, error: refused, attempts: 0 }
        continue
      }
      let result: BatchResult | undefined
      for (let attempt = 1; !result; attempt++) {
        // A retry waits its backoff, and never less than the pause every request keeps from the last one.
        let wait = requestsSent > 0 ? pauseBetweenRequestsMs : 0
        if (attempt > 1) wait = Math.max(wait, this.#backoff(attempt - 1))
        if (wait > 0) await pause(wait, signal)
        requestsSent++
        this.#logger.debug({ ...batch, attempt }, 'requesting reports')
        const started = performance.now()
        try {
          const { reports, skippedEntries } = await this.#request(batchIds, days, signal)
          const durationMs = Math.round(performance.now() - started)
          if (skippedEntries > 0) {
            this.#logger.warn(
              { ...batch, skippedEntries },
              'the report endpoint sent entries without id or payload',
            )
          }
          this.#logger.debug({ ...batch, attempt, reports: reports.length, durationMs }, 'reports received')
          result = { index, ids: batchIds, ok: true, reports, attempts: attempt, skippedEntries }
        } catch (error) {
          if (signal?.aborted) throw signal.reason
          const failure = asEndpointError(error)
          if (failure.retryable && attempt < maxAttempts) {
            this.#logger.warn(
              {
                ...batch,
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
          const gaveUp = failure.retryable
            ? new ReportEndpointError(
                failure.code,
                `batch ${index + 1} of ${batchCount} (${batchIds.length} ids) failed after ${attempt} attempts; last failure: ${failure.message}`,
                { status: failure.status, retryable: true, attempts: attempt, cause: failure },
              )
            : new ReportEndpointError(
                failure.code,
                `batch ${index + 1} of ${batchCount} (${batchIds.length} ids): ${failure.message}`,
                { status: failure.status, attempts: attempt, cause: failure },
              )
          this.#logger.error(
            { ...batch, attempts: attempt, code: gaveUp.code, status: gaveUp.status, err: failure.message },
            'giving up on a report batch',
          )
          if (failure.code === 'UNAUTHORIZED') refused = gaveUp
          result = { index, ids: batchIds, ok: false, error: gaveUp, attempts: attempt }
        }
      }
      yield result
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
