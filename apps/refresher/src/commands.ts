import { randomBytes } from 'node:crypto'
import type { RetentionConfig, TrackerDatabase } from '@tracker/db'
import { type HistoryDifference, HistoryEngine, type RefreshEvent } from '@tracker/history'
import type { Logger } from 'pino'

export interface CommandResult {
  /** False when any statement failed or was cancelled (a concurrent skip is not a failure), or the check found differences. */
  ok: boolean
  events: RefreshEvent[]
  differences?: HistoryDifference[]
}

interface CommandOptions {
  database: TrackerDatabase
  retention: RetentionConfig
  statementTimeoutMs: number
  logger: Logger
  signal?: AbortSignal
}

async function withEngine(
  options: CommandOptions,
  run: (
    engine: HistoryEngine,
    context: { trigger: 'manual'; runId: string; signal: AbortSignal },
  ) => Promise<unknown>,
): Promise<CommandResult> {
  const events: RefreshEvent[] = []
  const engine = await HistoryEngine.open({
    database: options.database,
    retention: options.retention,
    logger: options.logger,
    statementTimeoutMs: options.statementTimeoutMs,
    observers: [{ onRefresh: (event) => events.push(event) }],
  })
  const context = {
    trigger: 'manual' as const,
    runId: randomBytes(4).toString('hex'),
    signal: options.signal ?? new AbortController().signal,
  }
  try {
    await run(engine, context)
  } catch {
    // Recorded as a failed event by the engine (and logged).
  }
  return { ok: events.every((e) => e.outcome !== 'failed' && e.outcome !== 'cancelled'), events }
}

/**
 * The seed's troubleshooting step as one command: location_history_hourly over its periodic window,
 * location_history_daily over its, then location_history for every tracker over the days a late
 * report can still reach (what replaces `REFRESH MATERIALIZED VIEW location_history`).
 */
export function refreshAll(options: CommandOptions): Promise<CommandResult> {
  return withEngine(options, (engine, context) =>
    engine.refreshPeriodic(context, [{ window: engine.catchUpWindow(), trackers: null }]),
  )
}

/** Recomputes all of location_history from the aggregates (recovery); rewrites only rows that differ. */
export function rebuild(options: CommandOptions): Promise<CommandResult> {
  return withEngine(options, (engine, context) => engine.rebuild(context))
}

/** Compares location_history with what the aggregates say; ok when they agree. */
export async function check(options: CommandOptions & { limit?: number }): Promise<CommandResult> {
  const engine = await HistoryEngine.open({
    database: options.database,
    retention: options.retention,
    logger: options.logger,
    statementTimeoutMs: options.statementTimeoutMs,
  })
  const differences = await engine.check(undefined, null, options.limit ?? 1000)
  return { ok: differences.length === 0, events: [], differences }
}
