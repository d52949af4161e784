import { GraphQLError } from 'graphql'
import type { MercuriusContext } from 'mercurius'
import type { Counter } from 'prom-client'
import { ApiError } from '../errors.ts'
import { SecretInputError } from './scalars.ts'
import { argumentOf } from './validation-rules.ts'

/** Codes a client may see; anything else is internal. */
const CLIENT_CODES = new Set([
  'BAD_USER_INPUT',
  'NOT_FOUND',
  'UNAUTHENTICATED',
  'SESSION_EXPIRED',
  'CROSS_ORIGIN',
  'FORBIDDEN',
  'RATE_LIMITED',
  'REFRESH_BUSY',
  'SERVICE_UNAVAILABLE',
  'QUERY_TOO_DEEP',
  'QUERY_TOO_COMPLEX',
  'TOO_MANY_ROOT_FIELDS',
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_REQUEST',
])

export interface FormattedError {
  message: string
  locations?: readonly { line: number; column: number }[]
  path?: readonly (string | number)[]
  extensions: { code: string; [key: string]: unknown }
}

// graphql-js reports wrong argument and variable values through these messages (it has no codes).
const VALUE_ERRORS = [
  /^Variable "\$[^"]+" (got invalid value|of required type|of non-null type)/,
  /^Expected value of type /,
  /cannot represent/,
  /^Field "[^"]+" argument "[^"]+" of type "[^"]+" is required/,
  /^Field "[^"]+" of required type "[^"]+" was not provided/,
  /^Field "[^"]+" is not defined by type "[^"]+"/,
  /^Value "[^"]*" does not exist in "[^"]+" enum/,
]

// ... and the operationName that picks no operation (graphql-js' words, when Mercurius checks it first).
const OPERATION_ERRORS = [
  /^Must provide operation name/,
  /^Unknown operation named /,
  /^Must provide an operation/,
]

function codeOfRequestError(error: GraphQLError): string {
  const own = error.extensions?.code
  if (typeof own === 'string' && CLIENT_CODES.has(own)) return own
  if (error.message.startsWith('Syntax Error')) return 'GRAPHQL_PARSE_FAILED'
  if (VALUE_ERRORS.some((pattern) => pattern.test(error.message))) return 'BAD_USER_INPUT'
  if (OPERATION_ERRORS.some((pattern) => pattern.test(error.message))) return 'BAD_REQUEST'
  return 'GRAPHQL_VALIDATION_FAILED'
}

function location(error: GraphQLError) {
  return {
    ...(error.locations ? { locations: error.locations } : {}),
    ...(error.path ? { path: error.path } : {}),
  }
}

/** The client's view of a parse, validation or variable error (none of them reached a resolver). */
function formatRequestError(inner: unknown): FormattedError {
  if (inner instanceof GraphQLError) {
    const code = codeOfRequestError(inner)
    let message =
      inner.originalError instanceof SecretInputError ? inner.originalError.message : inner.message
    const { code: _own, ...extra } = (inner.extensions ?? {}) as Record<string, unknown>
    // A literal value's error names the argument it was given as (variables name themselves).
    const argument = code === 'BAD_USER_INPUT' ? argumentOf(inner.nodes?.[0]) : undefined
    if (argument) {
      message = `${argument}: ${message}`
      extra.argument ??= argument
    }
    return { message, ...location(inner), extensions: { ...extra, code } }
  }
  // Body validation (e.g. "body/query must be string") or unparseable JSON variables.
  return { message: (inner as Error)?.message ?? 'Bad request', extensions: { code: 'BAD_REQUEST' } }
}

export interface FormatterDeps {
  errorsTotal: Counter<'code'>
}

interface Classified {
  formatted: FormattedError[]
  statusCode: number | undefined
}

type ErrorLike = Error & { code?: unknown; statusCode?: unknown; errors?: unknown }

function classify(error: GraphQLError, context: MercuriusContext): Classified {
  const original = error.originalError as ErrorLike | undefined
  const statusOf = (e: ErrorLike | undefined) =>
    typeof e?.statusCode === 'number' ? e.statusCode : undefined

  // Mercurius wraps parse and validation failures: one wrapper, many errors.
  if (original && Array.isArray(original.errors)) {
    const status = (statusOf(original) ?? 0) >= 400 ? statusOf(original) : 400
    return { formatted: original.errors.map(formatRequestError), statusCode: status }
  }
  if (original instanceof ApiError) {
    return {
      formatted: [
        {
          message: original.message,
          ...location(error),
          extensions: { ...original.extensions, code: original.code },
        },
      ],
      statusCode: original.statusCode,
    }
  }
  // Domain errors of @tracker/db that are the client's to act on (NotFoundError).
  if (original && typeof original.code === 'string' && CLIENT_CODES.has(original.code)) {
    return {
      formatted: [{ message: original.message, ...location(error), extensions: { code: original.code } }],
      statusCode: undefined,
    }
  }
  // Scalar parse errors raised while executing (a value inside a variable list, for example).
  const own = error.extensions?.code
  if ((!original || original instanceof GraphQLError) && typeof own === 'string' && CLIENT_CODES.has(own)) {
    return { formatted: [formatRequestError(error)], statusCode: undefined }
  }
  // graphql-js' own words about the request, from before any field ran (no path, nothing thrown):
  // an operation it could not pick, variables it could not coerce. The request's fault: 400.
  if (!original && !error.path) {
    return { formatted: [formatRequestError(error)], statusCode: 400 }
  }
  // HTTP-level problems found by Fastify before GraphQL ran: invalid JSON, body too large, bad content type.
  const status = statusOf(original)
  if (original && status !== undefined && status >= 400 && status < 500) {
    return {
      formatted: [{ message: original.message, extensions: { code: 'BAD_REQUEST' } }],
      statusCode: status,
    }
  }
  // Anything else is ours: mask it, log it with the request id.
  const requestId = String(context.reply?.request.id ?? 'unknown')
  const log = context.reply?.request.log ?? context.app.log
  log.error({ err: original ?? error, path: error.path }, 'internal error while answering a GraphQL request')
  return {
    formatted: [
      {
        message: `Internal server error (request id ${requestId})`,
        ...location(error),
        extensions: { code: 'INTERNAL_SERVER_ERROR', requestId },
      },
    ],
    statusCode: (status ?? 0) >= 500 ? status : undefined,
  }
}

/**
 * Mercurius' errorFormatter: every error gets an extensions.code; internal ones are masked. The
 * HTTP status is the request error's (400 parse/validation, 401, 413, 429, ...) or 200 once
 * execution started (GraphQL over HTTP), 500 when nothing could be answered because of us.
 */
export function createErrorFormatter(deps: FormatterDeps) {
  return (execution: { data?: unknown; errors: readonly GraphQLError[] }, context: MercuriusContext) => {
    let statusCode: number | undefined
    const errors: FormattedError[] = []
    for (const error of execution.errors) {
      const classified = classify(error, context)
      errors.push(...classified.formatted)
      statusCode ??= classified.statusCode
    }
    for (const error of errors) deps.errorsTotal.inc({ code: error.extensions.code })
    const debug = context.reply?.request.log ?? context.app.log
    const clientErrors = errors.filter((e) => e.extensions.code !== 'INTERNAL_SERVER_ERROR')
    if (clientErrors.length > 0) {
      debug.info(
        { errors: clientErrors.map((e) => ({ code: e.extensions.code, message: e.message })) },
        'graphql client errors',
      )
    }
    const data = execution.data ?? null
    if (
      statusCode === undefined &&
      data === null &&
      errors.every((e) => e.extensions.code === 'INTERNAL_SERVER_ERROR')
    ) {
      statusCode = 500
    }
    return { statusCode: statusCode ?? 200, response: { data, errors } }
  }
}
