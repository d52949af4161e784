import type { ColumnType, Selectable } from 'kysely'

/**
 * The report endpoint's requests per hour and outcome, as the importer counted them (outcomes:
 * EndpointRequestOutcome of @tracker/findmy). Kept ENDPOINT_REQUEST_HOURS_KEPT hours.
 */
export interface EndpointRequestHourTable {
  /** The hour's start (UTC). */
  hour: Date
  outcome: string
  requests: number
}

/** One row: the current streak of failing requests (any outcome but ok and partial). */
export interface EndpointRequestStreakTable {
  /** Always true: the table holds one row. */
  id: ColumnType<boolean, boolean | undefined, never>
  /** Consecutive failing requests up to the last one; 0 after an ok or partial answer. */
  failing_requests: number
  /** The outcome of the streak's latest request; null when there is no streak. */
  outcome: string | null
  /** The streak's first failing request; null when there is no streak. */
  since: Date | null
  last_ok_at: Date | null
  last_request_at: Date
}

export type EndpointRequestHour = Selectable<EndpointRequestHourTable>
export type EndpointRequestStreak = Selectable<EndpointRequestStreakTable>

/** How far back endpoint_request_hours reaches (31 days): what the importer keeps, the API shows. */
export const ENDPOINT_REQUEST_HOURS_KEPT = 31 * 24
