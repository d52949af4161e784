import type { EndpointRequestHour, EndpointRequestStreak } from '@tracker/db'
import type {
  EndpointFailureStreak,
  EndpointHealth,
  EndpointRequestOutcome,
  RequestOutcomeCount,
} from '../graphql/schema.generated.ts'

/** The outcomes in the schema's order; one the schema does not know (a newer importer) is FAILED. */
const OUTCOMES: readonly EndpointRequestOutcome[] = [
  'OK',
  'PARTIAL',
  'EMPTY',
  'UNAUTHORIZED',
  'SERVER_ERROR',
  'TIMEOUT',
  'FAILED',
]

export function toOutcome(stored: string): EndpointRequestOutcome {
  const outcome = stored.toUpperCase() as EndpointRequestOutcome
  return OUTCOMES.includes(outcome) ? outcome : 'FAILED'
}

/** Counts keyed by stored outcome (import_runs.endpoint_requests) as a list in the schema's order. */
export function toOutcomeCounts(counts: Record<string, number>): RequestOutcomeCount[] {
  const summed = new Map<EndpointRequestOutcome, number>()
  for (const [stored, count] of Object.entries(counts)) {
    const outcome = toOutcome(stored)
    summed.set(outcome, (summed.get(outcome) ?? 0) + count)
  }
  return OUTCOMES.filter((o) => summed.has(o)).map((outcome) => ({ outcome, count: summed.get(outcome)! }))
}

export function toEndpointHealth(
  rows: readonly EndpointRequestHour[],
  streak: EndpointRequestStreak | null,
): EndpointHealth {
  const byHour = new Map<number, Record<string, number>>()
  const totals: Record<string, number> = {}
  for (const row of rows) {
    const hour = byHour.get(row.hour.getTime()) ?? {}
    hour[row.outcome] = (hour[row.outcome] ?? 0) + row.requests
    byHour.set(row.hour.getTime(), hour)
    totals[row.outcome] = (totals[row.outcome] ?? 0) + row.requests
  }
  return {
    hours: [...byHour].map(([hour, counts]) => ({
      hour: new Date(hour),
      requests: toOutcomeCounts(counts),
      total: Object.values(counts).reduce((a, b) => a + b, 0),
    })),
    totals: toOutcomeCounts(totals),
    streak: toStreak(streak),
  }
}

function toStreak(row: EndpointRequestStreak | null): EndpointFailureStreak {
  return {
    failingRequests: row?.failing_requests ?? 0,
    outcome: row?.outcome ? toOutcome(row.outcome) : null,
    since: row?.since ?? null,
    lastOkAt: row?.last_ok_at ?? null,
    lastRequestAt: row?.last_request_at ?? null,
  }
}
