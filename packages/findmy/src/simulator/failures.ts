import { unit } from './hash.ts'

/** What the simulator can do to a request instead of (or before) answering it normally. */
export type SimulatedFailure =
  /** 401 with `WWW-Authenticate`, as for wrong credentials. */
  | { type: 'unauthorized' }
  /** 501, no body: mh_endpoint.py's answer to any failure, including Apple answering nothing. */
  | { type: 'server_error' }
  /** 504, no body: the endpoint's anisette server timed out. */
  | { type: 'anisette_timeout' }
  /** 503 `{"error":"apple_session_expired"}` (the devrandom0 fork). */
  | { type: 'session_expired' }
  /** 200 with no body. */
  | { type: 'empty_body' }
  /** 200 with JSON that has no `results`. */
  | { type: 'missing_results' }
  /** 200 with a body cut short. */
  | { type: 'invalid_json' }
  /** Waits `delayMs`, then answers normally (or not at all if the client gave up first). */
  | { type: 'slow'; delayMs: number }
  /** Closes the connection without answering. */
  | { type: 'connection_reset' }

export interface SimulatedRequestInfo {
  /** 1-based, counting every request since the simulator started. */
  number: number
  ids: readonly string[]
  days: number
}

/**
 * Scripted failures: `next` applies to the coming requests in order (null lets one through); once
 * it is used up, `when` decides for each request.
 */
export interface FailurePlan {
  next?: Array<SimulatedFailure | null>
  when?: (request: SimulatedRequestInfo) => SimulatedFailure | null | undefined
}

export function failNext(count: number, failure: SimulatedFailure): FailurePlan {
  return { next: Array.from({ length: count }, () => failure) }
}

/** A seeded share of requests fail with one of `failures`, e.g. for a demo of retries. */
export function failRandomly(share: number, failures: readonly SimulatedFailure[], seed = 1): FailurePlan {
  return {
    when: ({ number }) => {
      const r = unit(seed, number, 0xfa11)
      return r < share ? (failures[Math.floor((r / share) * failures.length)] ?? null) : null
    },
  }
}

/**
 * Shares (0..1) of all requests that fail at random, e.g. Apple's fetch since about April 2026: empty
 * 200s, 5xx that come and go, the odd 401. Each request's fate is a function of the seed and its number.
 */
export interface FailureRates {
  /** A 200 with no body (`empty_body`). */
  emptyBody?: number
  /** A 501 with no body (`server_error`), as mh_endpoint.py answers any failure. */
  serverError?: number
  /** A 401 with `WWW-Authenticate` (`unauthorized`). */
  unauthorized?: number
}

const RATED: ReadonlyArray<[keyof FailureRates, SimulatedFailure]> = [
  ['emptyBody', { type: 'empty_body' }],
  ['serverError', { type: 'server_error' }],
  ['unauthorized', { type: 'unauthorized' }],
]

/** The rates with every share checked: each between 0 and 1, and at most 1 together. */
export function validFailureRates(rates: FailureRates): Required<FailureRates> {
  let total = 0
  for (const [name] of RATED) {
    const value = rates[name] ?? 0
    if (!(typeof value === 'number' && value >= 0 && value <= 1)) {
      throw new RangeError(`failureRates.${name} must be a share between 0 and 1, got ${value}`)
    }
    total += value
  }
  if (total > 1 + 1e-9) {
    throw new RangeError(`failureRates add up to ${total}; together they must be at most 1`)
  }
  return {
    emptyBody: rates.emptyBody ?? 0,
    serverError: rates.serverError ?? 0,
    unauthorized: rates.unauthorized ?? 0,
  }
}

/** The failure the rates give request `number` (1-based), or null: one draw splits [0, 1) between them. */
export function rateFailure(
  rates: Required<FailureRates>,
  seed: number,
  number: number,
): SimulatedFailure | null {
  // Its own salt, so that a failRandomly plan with the same seed draws independently.
  const r = unit(seed, number, 0x7a7e)
  let bound = 0
  for (const [name, failure] of RATED) {
    bound += rates[name]
    if (r < bound) return failure
  }
  return null
}

export function failureStatus(failure: SimulatedFailure | null): number | null {
  switch (failure?.type) {
    case 'unauthorized':
      return 401
    case 'server_error':
      return 501
    case 'anisette_timeout':
      return 504
    case 'session_expired':
      return 503
    case 'empty_body':
    case 'missing_results':
    case 'invalid_json':
      return 200
    default:
      return null
  }
}
