import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely'
import type { UnreadableKey } from './tracker-key.table.ts'

/** not_started: the run could not start (its lock backend was unreachable); `error` says why. */
export type ImportRunStatus = 'running' | 'succeeded' | 'partial' | 'failed' | 'interrupted' | 'not_started'
/** poll: a run of the adaptive poller, for the trackers that were due. */
export type ImportRunTrigger = 'schedule' | 'startup' | 'once' | 'manual' | 'poll'

/** Reports rejected in a run, counted by reason (e.g. { undecryptable: 3, too_old: 1 }). */
export type RejectedCounts = Record<string, number>

/** Requests to the report endpoint by outcome, e.g. { ok: 12, empty: 2 }. */
export type EndpointRequestCounts = Record<string, number>

export interface SourceError {
  /** Which request failed, e.g. "batch 3 of 7 (5 keys)". */
  source: string
  message: string
  status?: number
  at: string
}

type Json<T> = ColumnType<T, string, string>

export interface ImportRunTable {
  id: Generated<string>
  status: ColumnType<ImportRunStatus, ImportRunStatus | undefined, ImportRunStatus>
  trigger: ColumnType<ImportRunTrigger, ImportRunTrigger | undefined, never>
  started_at: ColumnType<Date, Date | string | undefined, never>
  finished_at: Date | null
  heartbeat_at: ColumnType<Date, Date | string | undefined, Date | string>
  /** host:pid of the process running it. */
  owner: string
  lookback_days: number
  trackers: Generated<number>
  keys: Generated<number>
  reports_fetched: Generated<number>
  reports_inserted: Generated<number>
  reports_duplicate: Generated<number>
  rejected: Json<RejectedCounts>
  source_errors: Json<SourceError[]>
  /** The keys the run could not open and skipped (written with the totals). */
  unreadable_keys: ColumnType<UnreadableKey[], string | undefined, string>
  window_from: Date | null
  window_to: Date | null
  error: string | null
  /** Coverage gaps the run found (see coverage_gaps). */
  coverage_gaps: Generated<number>
  /** The most reports one key got in one answer during the run. */
  max_reports_per_key: Generated<number>
  /** Requests to the report endpoint by outcome (EndpointRequestOutcome of @tracker/findmy). */
  endpoint_requests: ColumnType<EndpointRequestCounts, string | undefined, string>
  /** Ids asked for again one by one after an answer with reports for the first id only. */
  multi_id_retries: Generated<number>
  /** Reports those single-id requests brought. */
  multi_id_recovered_reports: Generated<number>
}

export type ImportRun = Selectable<ImportRunTable>
export type NewImportRun = Insertable<ImportRunTable>
export type ImportRunUpdate = Updateable<ImportRunTable>
