import { REFRESH_REQUEST_CHANNEL, sql, type TrackerDatabase } from '@tracker/db'
import type { RefreshEvent } from '@tracker/history'
import type { ImportResult } from '@tracker/importer'
import { parseRefresherEnv } from '@tracker/refresher'
import type { BenchContext } from '../context.ts'
import { benchRun, HOUR_MS, openHistoryEngine } from '../history-seed.ts'
import { median, round } from '../stats.ts'
import { caughtUp, type EngineStatement, idle, startMeasuredRefresher, statementOf } from './freshness.ts'

/** What a 6-hourly poll brings that is new: the newest 6 hours of what the endpoint serves. */
export const NEW_HOURS = 6

export interface SteadyRun {
  refresher: boolean
  /** Reports removed before the run (the newest NEW_HOURS), stored again by it. */
  removed: number
  inserted: number
  fetched: number
  outcome: string
  /** refresh_location_history notifications sent from the import's start until the end of the run. */
  notifications: number
  /** runNow's wall time. */
  importMs: number
  /** process.cpuUsage (user + system, every thread of this process) over the import; with the refresher, until it was idle again. */
  cpuMs: number
  /** From the import's start until the refresher had nothing left to do (= importMs without it). */
  untilIdleMs: number
  /** The refresher's statements caused by the import (after its start-up catch-up). */
  statements: EngineStatement[]
  /** Their summed durations: during the import, and after it ended (the queue draining). */
  statementsMs: number
  statementsAfterImportMs: number
}

export interface RefresherShare {
  /** The history materialized once before the runs, as the periodic refresh would (then location_history built). */
  materializeMs: number
  /** Every report already stored (the steady-state run as above), refresher running. */
  allStored: SteadyRun
  /** The newest 6 hours new again, without and with the refresher, in the order without, with, with, without. */
  runs: SteadyRun[]
  with: { statementsMs: number; importMs: number; cpuMs: number; untilIdleMs: number; share: number }
  without: { importMs: number; cpuMs: number }
}

const cpuMs = (since: NodeJS.CpuUsage) => {
  const used = process.cpuUsage(since)
  return (used.user + used.system) / 1000
}

/**
 * The refresher's share of a steady-state import. The importer's database has every report stored;
 * the history is materialized once as the periodic refresh would (aggregates over 48 hours and 7
 * days, location_history built). Then:
 * - one steady-state run with the refresher running and every report already stored;
 * - four runs in which the newest 6 hours of reports were removed first, so that each stores them
 *   again, as a 6-hourly poll does (the endpoint re-serves 7 days, the newest 6 hours are new): their
 *   inserts notify, and the importer announces its window at the end; without, with, with, without
 *   the refresher (started before the run, its start-up catch-up done, so it is at rest).
 * The refresher's statements (its RefreshEvents) are summed from the import's start until it is idle.
 */
export async function measureRefresherShare(
  ctx: BenchContext,
  database: TrackerDatabase,
  runNow: () => Promise<ImportResult>,
  nowMs: number,
): Promise<RefresherShare> {
  const engine = await openHistoryEngine(database, { logger: ctx.logger.child({ app: 'bench-engine' }) })
  const t0 = performance.now()
  await engine.refreshPeriodic(benchRun('periodic'))
  const materializeMs = round(performance.now() - t0)
  const config = parseRefresherEnv({
    REFRESHER_HTTP_PORT: '0',
    REFRESHER_HTTP_HOST: '127.0.0.1',
    LOG_LEVEL: ctx.env.logLevel,
  })

  const steadyRun = async (withRefresher: boolean, removeNewest: boolean): Promise<SteadyRun> => {
    let removed = 0
    if (removeNewest) {
      const result =
        await sql`DELETE FROM location_reports WHERE "timestamp" >= ${new Date(nowMs - NEW_HOURS * HOUR_MS).toISOString()}::timestamptz`.execute(
          database.db,
        )
      removed = Number(result.numAffectedRows ?? 0n)
    }
    const events: RefreshEvent[] = []
    const refresher = withRefresher ? await startMeasuredRefresher(ctx, database, config, events) : null
    let notifications = 0
    const listener = await database.listen(REFRESH_REQUEST_CHANNEL, { onNotification: () => notifications++ })
    try {
      if (refresher) await caughtUp(refresher, events, 600_000)
      const atRest = events.length
      const cpu0 = process.cpuUsage()
      const started = performance.now()
      const result = await runNow()
      const importMs = performance.now() - started
      const importEnd = Date.now()
      if (refresher) await idle(refresher, 0)
      const untilIdleMs = performance.now() - started
      const used = cpuMs(cpu0)
      const caused = events.slice(atRest)
      const sum = (list: RefreshEvent[]) => round(list.reduce((s, e) => s + e.durationMs, 0))
      return {
        refresher: withRefresher,
        removed,
        inserted: result.totals?.reportsInserted ?? 0,
        fetched: result.totals?.reportsFetched ?? 0,
        outcome: result.outcome,
        notifications,
        importMs: round(importMs),
        cpuMs: round(used),
        untilIdleMs: round(untilIdleMs),
        statements: caused.map(statementOf),
        statementsMs: sum(caused),
        statementsAfterImportMs: sum(caused.filter((e) => e.finishedAt.getTime() > importEnd)),
      }
    } finally {
      await listener.close()
      await refresher?.stop()
    }
  }

  ctx.progress('import: steady state with the refresher running (all stored)')
  const allStored = await steadyRun(true, false)
  ctx.progress(
    `import: steady state with the newest ${NEW_HOURS} h new, without / with / with / without the refresher`,
  )
  const runs: SteadyRun[] = []
  for (const withRefresher of [false, true, true, false]) runs.push(await steadyRun(withRefresher, true))
  for (const run of runs) {
    if (run.outcome !== 'succeeded') throw new Error(`a steady-state import run ended ${run.outcome}`)
  }
  const withRuns = runs.filter((r) => r.refresher)
  const withoutRuns = runs.filter((r) => !r.refresher)
  const statementsMs = median(withRuns.map((r) => r.statementsMs))
  const importMs = median(withRuns.map((r) => r.importMs))
  return {
    materializeMs,
    allStored,
    runs,
    with: {
      statementsMs: round(statementsMs),
      importMs: round(importMs),
      cpuMs: round(median(withRuns.map((r) => r.cpuMs))),
      untilIdleMs: round(median(withRuns.map((r) => r.untilIdleMs))),
      share: round(median(withRuns.map((r) => r.statementsMs / r.importMs))),
    },
    without: {
      importMs: round(median(withoutRuns.map((r) => r.importMs))),
      cpuMs: round(median(withoutRuns.map((r) => r.cpuMs))),
    },
  }
}
