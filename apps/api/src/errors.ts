/**
 * Errors a client caused or may act on. Each has the `code` the GraphQL edge puts in
 * extensions.code and, where the whole request fails, an HTTP status. Anything else that reaches
 * the edge is an internal error: masked in the response, logged with the request id.
 */
export class ApiError extends Error {
  readonly code: string
  readonly statusCode: number | undefined
  readonly extensions: Record<string, unknown>
  constructor(
    code: string,
    message: string,
    options: { statusCode?: number; extensions?: Record<string, unknown> } = {},
  ) {
    super(message)
    this.code = code
    this.statusCode = options.statusCode
    this.extensions = options.extensions ?? {}
  }
}

export class BadUserInputError extends ApiError {
  constructor(message: string, extensions?: Record<string, unknown>) {
    super('BAD_USER_INPUT', message, extensions ? { extensions } : {})
  }
}

export class NotFoundApiError extends ApiError {
  constructor(entity: string, id: string) {
    super('NOT_FOUND', `${entity} ${id} does not exist`)
  }
}

export class UnauthenticatedError extends ApiError {
  constructor(message: string) {
    super('UNAUTHENTICATED', message, { statusCode: 401 })
  }
}

export class ForbiddenError extends ApiError {
  constructor(message: string) {
    super('FORBIDDEN', message)
  }
}

export class RateLimitedError extends ApiError {
  constructor(retryAfterSeconds: number, whose = 'for this token') {
    super('RATE_LIMITED', `Too many requests ${whose}: retry in ${retryAfterSeconds} s`, {
      statusCode: 429,
      extensions: { retryAfterSeconds },
    })
  }
}

/** The refresh lock stayed with another refresh for longer than the mutation may wait. */
export class RefreshBusyError extends ApiError {
  constructor(waitedMs: number) {
    super(
      'REFRESH_BUSY',
      `Another refresh of the location history held the lock for the ${Math.round(waitedMs / 1000)} s this ` +
        'call may wait; the data it refreshes becomes visible when it finishes. Try again later.',
    )
  }
}

/**
 * The refresher did not answer a refresh request in time: none took it (not running, or not
 * listening), or the one that took it has not finished (it still does: the data becomes visible then).
 */
export class RefreshTimeoutApiError extends ApiError {
  constructor(accepted: boolean, waitedMs: number) {
    const waited = `${Math.round(waitedMs / 100) / 10} s`
    super(
      'REFRESH_TIMEOUT',
      accepted
        ? `The refresher took this refresh but did not finish it within ${waited}; the data it refreshes ` +
            'becomes visible when it finishes. Try again later.'
        : `No refresher answered within ${waited}: the refresh is done by the refresher, which is not ` +
            'running or not listening. Nothing was refreshed; start the refresher and try again.',
      { extensions: { accepted, waitedMs } },
    )
  }
}

/** A dependency (the lock service, the server shutting down) keeps the request from being served. */
export class ServiceUnavailableError extends ApiError {
  constructor(message: string) {
    super('SERVICE_UNAVAILABLE', message)
  }
}

/** An irreversible operation asked for without its confirmation (deleteTracker without the name). */
export class ConfirmationRequiredError extends ApiError {
  constructor(message: string, extensions?: Record<string, unknown>) {
    super('CONFIRMATION_REQUIRED', message, { statusCode: 400, ...(extensions ? { extensions } : {}) })
  }
}
