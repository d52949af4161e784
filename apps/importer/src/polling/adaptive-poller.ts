import { setTimeout as sleep } from 'node:timers/promises'
import { type Database, type Kysely, listPollingStates, recordPoll } from '@tracker/db'
import type { Logger } from 'pino'
import { type CadenceBounds, nextPollInterval, type PollFeedback } from './poll-cadence.ts'
import { nextWake, type PollCandidate, planPolls } from './poll-planner.ts'
import type { RequestBudget } from './request-budget.ts'

/** What polling some trackers gave: per tracker, what the rule needs (null: no run, e.g. locked). */
export type PollTrackers = (
  trackerIds: string[],
  signal: AbortSignal,
) => Promise<{ ok: boolean; perTracker: ReadonlyMap<string, PollFeedback> } | null>

export interface AdaptivePollerOptions {
  db: Kysely<Database>
  budget: RequestBudget
  bounds: CadenceBounds
  /** Ids per request (REPORT_ENDPOINT_BATCH_SIZE): keys of several trackers share a request. */
  batchSize: number
  /** A tracker's first interval, before any poll has told anything. */
  initialIntervalMs: number
  poll: PollTrackers
  logger: Logger
  clock?: () => Date
  /** Longest sleep between two looks at the trackers (new trackers, overrides): default 1 minute. */
  maxSleepMs?: number
}

export interface PollStep {
  polled: string[]
  /** When there is next something to do (null: no tracker to poll). */
  nextWakeAt: Date | null
}

const NEVER = new Date(0)
/** A tracker the run heard nothing from. */
const SILENT: PollFeedback = {
  newReports: 0,
  maxNewPerKey: 0,
  fullAnswer: false,
  limit: 0,
  movedMeters: null,
}

/**
 * The adaptive polling mode: each tracker has its own next-poll time; the due ones (most overdue
 * first) are polled together, as many as the request budget allows, and each one's interval is
 * then set by the cadence rule from what its poll showed (a user's fixed interval wins). Requests
 * stay sequential with the pause between them: the import run makes them.
 */
export class AdaptivePoller {
  readonly #o: AdaptivePollerOptions
  readonly #clock: () => Date
  readonly #stop = new AbortController()
  #loop: Promise<void> | null = null

  constructor(options: AdaptivePollerOptions) {
    this.#o = options
    this.#clock = options.clock ?? (() => new Date())
  }

  /** One round: plan, poll, set each polled tracker's next poll. */
  async step(signal: AbortSignal = this.#stop.signal): Promise<PollStep> {
    const o = this.#o
    const now = this.#clock()
    const states = await listPollingStates(o.db)
    const candidates: PollCandidate[] = states.map((s) => ({
      trackerId: s.trackerId,
      keys: s.keys,
      nextPollAt: s.nextPollAt ?? NEVER,
    }))
    const plan = planPolls(candidates, now, { available: o.budget.available(now), batchSize: o.batchSize })
    if (plan.length === 0) {
      const wake = nextWake(candidates)
      if (!wake || wake > now) return { polled: [], nextWakeAt: wake }
      // Due, but the budget does not cover even the most overdue: wait until it frees a request.
      const release = o.budget.nextReleaseAt(now)
      return { polled: [], nextWakeAt: release ?? new Date(now.getTime() + o.bounds.minMs) }
    }
    const ids = plan.map((c) => c.trackerId)
    const result = await o.poll(ids, signal)
    const polledAt = this.#clock()
    const byId = new Map(states.map((s) => [s.trackerId, s]))
    for (const trackerId of ids) {
      const state = byId.get(trackerId)!
      const current = (state.intervalSeconds ?? o.initialIntervalMs / 1000) * 1000
      const feedback = result?.perTracker.get(trackerId)
      // A run that did not happen or failed tells nothing: look again after the shortest interval.
      const intervalMs =
        state.overrideSeconds !== null
          ? // A user's interval, but never below the floor per key.
            Math.max(o.bounds.minMs, state.overrideSeconds * 1000)
          : result?.ok && feedback
            ? nextPollInterval(current, feedback, o.bounds)
            : result?.ok
              ? nextPollInterval(current, SILENT, o.bounds)
              : current
      const wait = result?.ok ? intervalMs : o.bounds.minMs
      await recordPoll(o.db, {
        trackerId,
        intervalSeconds: Math.max(1, Math.round(intervalMs / 1000)),
        polledAt,
        nextPollAt: new Date(polledAt.getTime() + wait),
      })
    }
    o.logger.info(
      { trackers: ids.length, ok: result?.ok ?? null, budgetLeft: o.budget.available(this.#clock()) },
      'adaptive poll',
    )
    const after = await listPollingStates(o.db)
    return {
      polled: ids,
      nextWakeAt: nextWake(
        after.map((s) => ({ trackerId: s.trackerId, keys: s.keys, nextPollAt: s.nextPollAt ?? NEVER })),
      ),
    }
  }

  /** Runs rounds until stopped, sleeping until the next tracker is due (at most maxSleepMs). */
  start(): void {
    this.#loop ??= (async () => {
      const signal = this.#stop.signal
      while (!signal.aborted) {
        let wakeAt: Date | null = null
        try {
          wakeAt = (await this.step(signal)).nextWakeAt
        } catch (error) {
          if (signal.aborted) break
          this.#o.logger.error({ err: error }, 'adaptive poll round failed; trying again shortly')
        }
        const maxSleep = this.#o.maxSleepMs ?? 60_000
        const delay = wakeAt ? Math.min(maxSleep, Math.max(0, wakeAt.getTime() - Date.now())) : maxSleep
        await sleep(Math.max(delay, 1_000), undefined, { signal }).catch(() => {})
      }
    })()
  }

  async stop(): Promise<void> {
    this.#stop.abort()
    await this.#loop
  }
}
