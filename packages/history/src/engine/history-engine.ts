import {
  DAY_MS,
  type Database,
  type Kysely,
  type Logger,
  notifyHistoryRefreshed,
  oldestSafeRefreshStart,
  type RetentionConfig,
  sql,
  type TrackerDatabase,
} from '@tracker/db'
import { type AggregateSupport, detectAggregateSupport } from '../aggregates/aggregate-support.ts'
import {
  aggregateWatermark,
  oldestKeptBucket,
  refreshContinuousAggregate,
} from '../aggregates/refresh-aggregate.ts'
import type { ChangeSet, UpkeepTarget } from '../change.ts'
import { resolveDatabaseRetention } from '../retention-policy.ts'
import { DAILY_TIER, HOURLY_TIER_REACH_MS, hourlyTierStart, REFRESH_ORDER } from '../tiers.ts'
import { compareWithAggregates, type HistoryDifference } from '../upkeep/check.ts'
import type { RowSource, TrackerFilter } from '../upkeep/history-rows.ts'
import { type UpkeepCounts, upkeepWindow } from '../upkeep/upkeep-window.ts'
import {
  alignToDays,
  clipRefreshWindow,
  completeBucketsOnly,
  mergeWindows,
  periodicRefreshWindow,
  type TimeWindow,
} from '../windows.ts'
import type { HistoryObserver, RefreshEvent, RunContext } from './events.ts'
import { type ObjectStatus, StatementRunner } from './statement-runner.ts'

/** Every bucket there can be: what a rebuild or a first build covers. */
export const WHOLE_HISTORY: TimeWindow = {
  from: new Date(Date.UTC(1970, 0, 1)),
  to: new Date(Date.UTC(9999, 0, 1)),
}

export interface HistoryEngineOptions {
  database: TrackerDatabase
  /** The configured storage settings; the engine makes them at least as strict as the database's. */
  retention: RetentionConfig
  logger: Logger
  /** statement_timeout of each refresh and upkeep statement (the seed: 20 minutes). */
  statementTimeoutMs?: number
  /** The time the tier boundary and the refresh windows are computed from (tests move it). */
  clock?: () => Date
  observers?: HistoryObserver[]
}

export interface UpkeepResult extends UpkeepCounts {
  outcome: 'refreshed'
  /** The tier boundary the table now reflects. */
  tierStart: Date
  /** The boundary moved (or the table was built for the first time) in this upkeep. */
  tierMoved: boolean
}

export interface HistoryRisk {
  /** End of the daily aggregate's materialized range (null: nothing materialized). */
  dailyWatermark: Date | null
  /** The oldest day a refresh may still safely rebuild; raw data before it may be gone. */
  safeHorizon: Date
  /**
   * True when raw reports between the watermark and the safe horizon were never materialized: they
   * are being dropped, so their days are being lost.
   */
  losing: boolean
}

/**
 * The one owner of the history's tiers. Every refresh of anything goes through it: the aggregates
 * (hourly, then daily; windows clipped to what raw retention leaves safe) and the incremental upkeep
 * of location_history (a change rewrites only the changed trackers' rows in the changed days, and
 * the daily move of the tier boundary rewrites only the day that changes tier). The refresher wires
 * it to LISTEN, its lock and its timers; the API's refresh mutation calls it under the same lock.
 */
export class HistoryEngine {
  readonly database: TrackerDatabase
  readonly aggregates: AggregateSupport
  /** The storage settings in force: the configuration, made at least as strict as the database. */
  readonly retention: RetentionConfig
  /** Where configuration and database disagree (logged as warnings at open). */
  readonly retentionMismatches: string[]
  readonly #logger: Logger
  readonly #clock: () => Date
  readonly #runner: StatementRunner

  static async open(options: HistoryEngineOptions): Promise<HistoryEngine> {
    const logger = options.logger
    const aggregates = await detectAggregateSupport(options.database)
    const resolved = await resolveDatabaseRetention(options.database, options.retention, logger, aggregates)
    const { effective } = resolved
    if (
      effective.hourlyRetentionMs < HOURLY_TIER_REACH_MS ||
      effective.hourlyRefreshWindowMs < HOURLY_TIER_REACH_MS
    ) {
      logger.warn(
        { event: 'hourly_tier_short' },
        'HOURLY_RETENTION or HOURLY_REFRESH_WINDOW is shorter than 48 hours, how far back the hourly tier ' +
          'reaches: the oldest hourly points of the tier may be missing or stale',
      )
    }
    return new HistoryEngine(options, aggregates, resolved)
  }

  private constructor(
    options: HistoryEngineOptions,
    aggregates: AggregateSupport,
    resolved: { effective: RetentionConfig; mismatches: string[] },
  ) {
    this.database = options.database
    this.aggregates = aggregates
    this.retention = resolved.effective
    this.retentionMismatches = resolved.mismatches
    this.#logger = options.logger
    this.#clock = options.clock ?? (() => new Date())
    this.#runner = new StatementRunner({
      database: options.database,
      logger: options.logger,
      ...(options.statementTimeoutMs === undefined ? {} : { statementTimeoutMs: options.statementTimeoutMs }),
      observers: options.observers ?? [],
    })
  }

  now(): Date {
    return this.#clock()
  }

  /** The start of the hourly tier now. */
  tierStart(): Date {
    return hourlyTierStart(this.#clock())
  }

  status(): Record<RefreshEvent['object'], ObjectStatus> {
    return this.#runner.status()
  }

  /**
   * Makes a set of changes visible in location_history: the changed trackers' rows in the changed
   * days, computed from their raw reports (see RowSource), late reports below the aggregates'
   * watermarks included. The aggregates are not refreshed here: TimescaleDB's invalidation log keeps
   * what late reports changed, and the periodic refresh (at most hourly, as the seed has it)
   * recomputes those buckets; refreshing a bucket recomputes it for every tracker, which would make
   * each change cost what the whole history of that hour and day costs.
   */
  async applyChanges(changes: ChangeSet, context: RunContext): Promise<TimeWindow | null> {
    await this.upkeep(changes.targets(), context)
    return null
  }

  /**
   * Refreshes both aggregates over `window` (the API's mutation), hourly then daily, each clipped to
   * what retention leaves safe and to complete buckets. Returns the part to retry (another session
   * was refreshing).
   */
  async refreshAggregates(window: TimeWindow, context: RunContext): Promise<TimeWindow | null> {
    if (!this.aggregates.enabled) return null
    const now = this.#clock()
    let retry: TimeWindow | null = null
    for (const tier of REFRESH_ORDER) {
      // Complete buckets only, as the periodic refresh: the bucket still filling is real-time.
      const clipped = completeBucketsOnly(clipRefreshWindow(this.retention, tier, window, now), tier, now)
      if (!clipped) {
        this.#runner.record({
          object: tier.aggregate,
          outcome: 'skipped_outside_safe_window',
          trigger: context.trigger,
          runId: context.runId,
          window,
          durationMs: 0,
          finishedAt: new Date(),
        })
        continue
      }
      const { outcome } = await this.#runner.run(tier.aggregate, clipped, context, async (session) => ({
        outcome: await refreshContinuousAggregate(session, tier.aggregate, clipped),
      }))
      if (outcome === 'skipped_concurrent') retry = mergeWindows(retry, window)
    }
    return retry
  }

  /**
   * The API's refreshLocationHistoryAggregates: both aggregates over all of `window` (clipped to what
   * retention leaves safe), then location_history for every tracker in its days, so that what the
   * refresh made visible is in every layer when it returns. Returns the part to retry.
   */
  async refreshWindow(window: TimeWindow, context: RunContext): Promise<TimeWindow | null> {
    const retry = await this.refreshAggregates(window, context)
    await this.upkeep([{ window: alignToDays(window), trackers: null }], context)
    return retry
  }

  /**
   * The seed's periodic refresh: the hourly aggregate over its window (48 h), the daily one over its
   * window (7 days), as far as retention allows; then location_history's own upkeep (the tier
   * boundary's daily move, rows of days the daily aggregate's retention dropped, and `targets`).
   * Returns the aggregates that another session was refreshing.
   */
  async refreshPeriodic(context: RunContext, targets: UpkeepTarget[] = []): Promise<TimeWindow | null> {
    let retry: TimeWindow | null = null
    if (this.aggregates.enabled) {
      const now = this.#clock()
      for (const tier of REFRESH_ORDER) {
        const window = periodicRefreshWindow(this.retention, tier, now)
        if (!window) continue
        const { outcome } = await this.#runner.run(tier.aggregate, window, context, async (session) => ({
          outcome: await refreshContinuousAggregate(session, tier.aggregate, window),
        }))
        if (outcome === 'skipped_concurrent') retry = mergeWindows(retry, window)
      }
    }
    await this.upkeep(targets, context)
    return retry
  }

  /**
   * What to look at after notifications may have been missed (a start, a lost listener): every
   * tracker, from as far back as a report may still arrive late, on.
   */
  catchUpWindow(): TimeWindow {
    const now = this.#clock().getTime()
    const reach = this.retention.rawRetentionMs - this.retention.rawChunkIntervalMs
    return { from: new Date(now - reach), to: WHOLE_HISTORY.to }
  }

  /**
   * location_history's upkeep, in one transaction that holds location_history_state's row (so two
   * upkeeps, from any process, never interleave): first the tier boundary's move if the day changed
   * since the last upkeep (or the first build of an empty table), then each target.
   */
  upkeep(requested: UpkeepTarget[], context: RunContext): Promise<UpkeepResult> {
    // Whole days: a day is either one daily point or its hours, so an upkeep handles whole days.
    const targets = requested.map((t) => ({ window: alignToDays(t.window), trackers: t.trackers }))
    const span = targets.reduce<TimeWindow | null>((s, t) => mergeWindows(s, t.window), null)
    const named = targets.every((t) => t.trackers)
      ? new Set(targets.flatMap((t) => t.trackers ?? [])).size
      : null
    return this.#runner.run(
      'location_history',
      span,
      context,
      (session) => this.#upkeepTransaction(session, targets),
      (result) => ({
        rows: {
          written: result.written,
          removed: result.removed,
          trackers: named,
          tierMoved: result.tierMoved,
        },
      }),
    )
  }

  /** Recomputes all of location_history from its sources (recovery); rewrites only rows that differ. */
  rebuild(context: RunContext): Promise<UpkeepResult> {
    return this.upkeep([{ window: WHOLE_HISTORY, trackers: null }], context)
  }

  /**
   * Differences between location_history and what the aggregates say (empty: they agree). By
   * default "what they say" is what they hold once refreshed: their definition over the raw reports
   * where those are all kept, their rows before (RowSource); `against: 'materialized'` compares
   * with the aggregates' rows as they are, which lag late reports until the periodic refresh.
   */
  check(
    window: TimeWindow = WHOLE_HISTORY,
    trackers: TrackerFilter = null,
    limit?: number,
    against: 'refreshed' | 'materialized' = 'refreshed',
  ): Promise<HistoryDifference[]> {
    const source = against === 'refreshed' ? this.rowSource() : { rawFrom: null }
    return compareWithAggregates(this.database.db, window, trackers, this.tierStart(), source, limit)
  }

  /**
   * Where location_history's rows come from now: raw reports from the first day whose reports
   * retention surely still keeps (the oldest day a refresh may safely rebuild), the aggregates
   * before it; the aggregates everywhere without TimescaleDB.
   */
  rowSource(): RowSource {
    if (!this.aggregates.enabled) return { rawFrom: null }
    const oldest = oldestSafeRefreshStart(this.retention, DAY_MS, this.#clock()).getTime()
    return { rawFrom: new Date(Math.ceil(oldest / DAY_MS) * DAY_MS) }
  }

  /**
   * Whether daily history is being lost: raw reports older than the safe refresh horizon that the
   * daily aggregate never materialized (at or after its watermark). Retention is dropping such
   * reports, or a refresh may no longer reach them: their days vanish from the history.
   */
  async historyRisk(): Promise<HistoryRisk> {
    const safeHorizon = oldestSafeRefreshStart(this.retention, DAY_MS, this.#clock())
    if (!this.aggregates.enabled) return { dailyWatermark: null, safeHorizon, losing: false }
    const dailyWatermark = await aggregateWatermark(this.database.db, DAILY_TIER.aggregate)
    const from = (dailyWatermark ?? WHOLE_HISTORY.from).toISOString()
    const { rows } = await sql<{ losing: boolean }>`
      SELECT EXISTS (SELECT 1 FROM location_reports
                      WHERE "timestamp" >= ${from}::timestamptz AND "timestamp" < ${safeHorizon.toISOString()}::timestamptz) AS losing`.execute(
      this.database.db,
    )
    return { dailyWatermark, safeHorizon, losing: rows[0]?.losing ?? false }
  }

  async #upkeepTransaction(session: Kysely<Database>, targets: UpkeepTarget[]): Promise<UpkeepResult> {
    const tierStart = this.tierStart()
    const source = this.rowSource()
    return session.transaction().execute(async (tx) => {
      const { rows } = await sql<{ hourly_tier_start: Date | null }>`
        SELECT hourly_tier_start FROM location_history_state FOR UPDATE`.execute(tx)
      const previous = rows[0]?.hourly_tier_start ?? null
      const total: UpkeepCounts = { written: 0, removed: 0 }
      const add = (counts: UpkeepCounts) => {
        total.written += counts.written
        total.removed += counts.removed
      }
      const tierMoved = previous?.getTime() !== tierStart.getTime()
      let work = targets
      if (previous === null) {
        // Never built: build it whole; the targets are inside.
        work = [{ window: WHOLE_HISTORY, trackers: null }]
      } else if (tierMoved) {
        // The days between the old and the new boundary change tier, for every tracker.
        const from = previous < tierStart ? previous : tierStart
        const to = previous < tierStart ? tierStart : previous
        add(await upkeepWindow(tx, { from, to }, null, tierStart, source))
        add(await this.#dropExpiredDays(tx))
      }
      for (const target of work)
        add(await upkeepWindow(tx, target.window, target.trackers, tierStart, source))
      await sql`UPDATE location_history_state SET hourly_tier_start = ${tierStart.toISOString()}::timestamptz, updated_at = now()`.execute(
        tx,
      )
      if (total.written + total.removed > 0) await notifyHistoryRefreshed(tx, { object: 'location_history' })
      return { outcome: 'refreshed' as const, ...total, tierStart, tierMoved }
    })
  }

  /** Daily rows older than anything the daily aggregate still keeps (its retention dropped them). */
  async #dropExpiredDays(tx: Kysely<Database>): Promise<UpkeepCounts> {
    if (!this.aggregates.enabled) return { written: 0, removed: 0 }
    const oldest = await oldestKeptBucket(tx, DAILY_TIER.aggregate)
    if (!oldest) return { written: 0, removed: 0 }
    const result =
      await sql`DELETE FROM location_history WHERE "timestamp" < ${oldest.toISOString()}::timestamptz`.execute(
        tx,
      )
    return { written: 0, removed: Number(result.numAffectedRows ?? 0n) }
  }
}
