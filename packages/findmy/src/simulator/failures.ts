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
