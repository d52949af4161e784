import type {
  Database,
  EndpointRequestCounts,
  ImportRun,
  ImportRunStatus,
  ImportRunTrigger,
  Kysely,
  RejectedCounts,
  SourceError,
  UnreadableKey,
} from '@tracker/db'

/**
 * The ledger of import runs (table import_runs): written at the start of a run, with each committed
 * insert (in its transaction), and at its end.
 */
export interface RunTotals {
  trackers: number
  keys: number
  reportsFetched: number
  reportsInserted: number
  reportsDuplicate: number
  rejected: RejectedCounts
  sourceErrors: SourceError[]
  /** Keys the run could not open and skipped. */
  unreadableKeys: UnreadableKey[]
  windowFrom: Date | null
  windowTo: Date | null
  /** Requests to the report endpoint by outcome (those of the batches the run handled). */
  endpointRequests: EndpointRequestCounts
  /** Ids asked for again alone after an answer for the first id only, and the reports that brought. */
  multiIdRetries: number
  multiIdRecoveredReports: number
  /** Coverage gaps found (and recorded in coverage_gaps with the batch that found them). */
  coverageGaps: number
  /** Their total length (for /metrics; not in the ledger: coverage_gaps has each one). */
  coverageGapMs: number
  /** The most reports one key got in one answer: what the endpoint's limit is learnt from. */
  maxReportsPerKey: number
}

/**
 * Runs left 'running' by a process that died. Only called while holding the import lock, so no
 * other run can be alive: every 'running' row belongs to a dead one.
 */
export async function markInterruptedRuns(db: Kysely<Database>, byRunId: string): Promise<string[]> {
  const rows = await db
    .updateTable('import_runs')
    .set({
      status: 'interrupted',
      finished_at: new Date(),
      error: `interrupted: found unfinished by run ${byRunId}`,
    })
    .where('status', '=', 'running')
    .where('id', '!=', byRunId)
    .returning('id')
    .execute()
  return rows.map((row) => row.id)
}

export async function startRun(
  db: Kysely<Database>,
  input: { owner: string; trigger: ImportRunTrigger; lookbackDays: number },
): Promise<ImportRun> {
  return db
    .insertInto('import_runs')
    .values({
      owner: input.owner,
      trigger: input.trigger,
      lookback_days: input.lookbackDays,
      rejected: '{}',
      source_errors: '[]',
    })
    .returningAll()
    .executeTakeFirstOrThrow()
}

/**
 * A run that could not start (the lock backend unreachable): one finished row with the reason. It
 * holds no lock, so it touches no other row.
 */
export async function recordNotStarted(
  db: Kysely<Database>,
  input: { owner: string; trigger: ImportRunTrigger; lookbackDays: number; reason: string },
): Promise<ImportRun> {
  const now = new Date()
  return db
    .insertInto('import_runs')
    .values({
      status: 'not_started',
      owner: input.owner,
      trigger: input.trigger,
      lookback_days: input.lookbackDays,
      started_at: now,
      finished_at: now,
      heartbeat_at: now,
      rejected: '{}',
      source_errors: '[]',
      error: input.reason,
    })
    .returningAll()
    .executeTakeFirstOrThrow()
}

/**
 * Progress so far, so a run that dies half way still shows what it had done. Pass the transaction
 * that inserted the rows being counted: then the ledger can never disagree with them.
 */
export async function recordProgress(db: Kysely<Database>, runId: string, totals: RunTotals): Promise<void> {
  await db
    .updateTable('import_runs')
    .set({ ...totalsColumns(totals), heartbeat_at: new Date() })
    .where('id', '=', runId)
    .execute()
}

export async function finishRun(
  db: Kysely<Database>,
  runId: string,
  status: Exclude<ImportRunStatus, 'running'>,
  totals: RunTotals,
  error: string | null,
): Promise<ImportRun> {
  return db
    .updateTable('import_runs')
    .set({ ...totalsColumns(totals), status, error, finished_at: new Date(), heartbeat_at: new Date() })
    .where('id', '=', runId)
    .returningAll()
    .executeTakeFirstOrThrow()
}

function totalsColumns(totals: RunTotals) {
  return {
    trackers: totals.trackers,
    keys: totals.keys,
    reports_fetched: totals.reportsFetched,
    reports_inserted: totals.reportsInserted,
    reports_duplicate: totals.reportsDuplicate,
    rejected: JSON.stringify(totals.rejected),
    source_errors: JSON.stringify(totals.sourceErrors),
    unreadable_keys: JSON.stringify(totals.unreadableKeys),
    window_from: totals.windowFrom,
    window_to: totals.windowTo,
    endpoint_requests: JSON.stringify(totals.endpointRequests),
    multi_id_retries: totals.multiIdRetries,
    multi_id_recovered_reports: totals.multiIdRecoveredReports,
    coverage_gaps: totals.coverageGaps,
    max_reports_per_key: totals.maxReportsPerKey,
  }
}

export async function latestRuns(db: Kysely<Database>, limit: number): Promise<ImportRun[]> {
  return db
    .selectFrom('import_runs')
    .selectAll()
    .orderBy('started_at', 'desc')
    .orderBy('id')
    .limit(limit)
    .execute()
}
