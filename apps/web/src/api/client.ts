/**
 * The page's only way to the server: same-origin requests carrying the session cookie (HttpOnly: the
 * page never sees it, and never holds the API token after signing in).
 */

/** The server could not be reached at all (stopped, network down): nothing the user did was wrong. */
export class ApiUnreachableError extends Error {
  readonly code = 'API_UNREACHABLE'
  constructor(cause?: unknown) {
    super('Cannot reach the Tracker API. Check that it is running; nothing you entered was lost.', { cause })
  }
}

/** The session is missing, expired or revoked (HTTP 401). */
export class SignedOutError extends Error {
  readonly code: string
  constructor(message: string, code = 'UNAUTHENTICATED') {
    super(message)
    this.code = code
  }
}

/** The API answered with an error it explains (a GraphQL error's code, or an HTTP error body's). */
export class ApiError extends Error {
  readonly code: string
  readonly status: number
  constructor(message: string, code: string, status: number) {
    super(message)
    this.code = code
    this.status = status
  }
}

interface ErrorBody {
  error?: string
  code?: string
  errors?: { message: string; extensions?: { code?: string } }[]
}

async function send(path: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(path, { ...init, credentials: 'same-origin', cache: 'no-store' })
  } catch (error) {
    throw new ApiUnreachableError(error)
  }
}

async function readJson(response: Response): Promise<unknown> {
  const text = await response.text().catch((error) => {
    throw new ApiUnreachableError(error)
  })
  if (text === '') return undefined
  try {
    return JSON.parse(text)
  } catch {
    // A proxy's HTML error page, say: the API itself always answers JSON.
    throw new ApiError(
      `The server answered ${response.status} with something that is not JSON`,
      'BAD_RESPONSE',
      response.status,
    )
  }
}

function errorOf(response: Response, body: ErrorBody | undefined): Error {
  const first = body?.errors?.[0]
  const message = body?.error ?? first?.message ?? `HTTP ${response.status}`
  const code = body?.code ?? first?.extensions?.code ?? `HTTP_${response.status}`
  if (response.status === 401) return new SignedOutError(message, code)
  if (response.status === 502 || response.status === 503 || response.status === 504) {
    return new ApiUnreachableError(new Error(message))
  }
  return new ApiError(message, code, response.status)
}

/** A JSON request to one of the API's HTTP routes (sessions, config, health). */
export async function requestJson<T>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await send(path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const parsed = (await readJson(response)) as ErrorBody | undefined
  if (!response.ok) throw errorOf(response, parsed)
  return parsed as T
}

export interface GraphQLResult<T> {
  data: T
  extensions?: Record<string, unknown>
}

/** A GraphQL operation; any error in the answer is thrown (the page asks for nothing partial). */
export async function graphql<T>(
  query: string,
  variables: Record<string, unknown> = {},
): Promise<GraphQLResult<T>> {
  const response = await send('/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query, variables }),
  })
  const body = (await readJson(response)) as (ErrorBody & GraphQLResult<T>) | undefined
  if (response.status === 401 || !body) throw errorOf(response, body)
  if (body.errors?.length) {
    const first = body.errors[0]!
    const code = first.extensions?.code ?? 'GRAPHQL_ERROR'
    if (code === 'UNAUTHENTICATED') throw new SignedOutError(first.message, code)
    throw new ApiError(first.message, code, response.status)
  }
  if (!response.ok) throw errorOf(response, body)
  return body
}
