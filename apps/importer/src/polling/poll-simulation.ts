import { DEFAULT_RETENTION, type KeyOpener, type TrackerDatabase } from '@tracker/db'
import { ReportEndpointClient } from '@tracker/findmy'
import { InProcessLockService } from '@tracker/locks'
import type { Logger } from 'pino'
import { type ImportDependencies, runImport } from '../run/run-import.ts'
import { AdaptivePoller } from './adaptive-poller.ts'
import type { CadenceBounds } from './poll-cadence.ts'
import { pollTrackersWith } from './poll-trackers.ts'
import { RequestBudget } from './request-budget.ts'

const HOUR_MS = 3_600_000

/** A clock that only moves when told: simulated time for the simulator, the importer and the poller. */
export class SimulatedClock {
  #now: number
  constructor(start: Date) {
    this.#now = start.getTime()
  }
  now = (): Date => new Date(this.#now)
  set(at: Date): void {
    this.#now = Math.max(this.#now, at.getTime())
  }
}

export type PollingPlan =
  | { kind: 'schedule'; everyMs: number }
  | { kind: 'adaptive'; budgetPerHour: number; bounds: CadenceBounds; initialIntervalMs: number }

export interface PollSimulationOptions {
  database: TrackerDatabase
  opener: KeyOpener
  /** The report endpoint (the simulator, on the same clock). */
  endpointUrl: string
  clock: SimulatedClock
  until: Date
  plan: PollingPlan
  /** Ids per request (default 5). */
  batchSize?: number
  logger: Logger
}

export interface PollSimulationResult {
  runs: number
  requests: number
  /** The most requests made in any sliding hour of simulated time. */
  maxRequestsInAnHour: number
}

/**
 * Polls the endpoint from the clock's time to `until` as the importer would, in simulated time:
 * every `everyMs` a full import (the seed's schedule), or the adaptive poller under its request
 * budget. Requests are immediate (no pause: the clock does not move during a run). For the bench's
 * fetching figure and the tests that compare the two.
 */
export async function simulatePolling(o: PollSimulationOptions): Promise<PollSimulationResult> {
  const times: number[] = []
  const budget = o.plan.kind === 'adaptive' ? new RequestBudget(o.plan.budgetPerHour) : null
  const source = new ReportEndpointClient({
    url: o.endpointUrl,
    batchSize: o.batchSize ?? 5,
    pauseBetweenRequestsMs: 0,
    backoffMs: 0,
    maxAttempts: 1,
    beforeRequest: async () => {
      const now = o.clock.now()
      // The planner only plans what the budget allows: a request beyond it is a bug, not a wait.
      if (budget && !budget.take(now)) throw new Error(`request budget exceeded at ${now.toISOString()}`)
      times.push(now.getTime())
    },
  })
  const deps: ImportDependencies = {
    database: o.database,
    locks: new InProcessLockService(),
    opener: o.opener,
    source,
    geocoder: null,
    logger: o.logger,
    owner: 'poll-simulation',
    now: o.clock.now,
    settings: {
      lookbackDays: 7,
      insertBatchSize: 2000,
      clockSkewMs: 10 * 60_000,
      lockTtlMs: 60_000,
      retention: DEFAULT_RETENTION,
      endpointReportsPerKey: 'auto',
    },
  }
  let runs = 0
  if (o.plan.kind === 'schedule') {
    for (let t = o.clock.now().getTime(); t <= o.until.getTime(); t += o.plan.everyMs) {
      o.clock.set(new Date(t))
      await runImport(deps, { trigger: 'schedule' })
      runs++
    }
  } else {
    const poller = new AdaptivePoller({
      db: o.database.db,
      budget: budget!,
      bounds: o.plan.bounds,
      batchSize: o.batchSize ?? 5,
      initialIntervalMs: o.plan.initialIntervalMs,
      clock: o.clock.now,
      logger: o.logger,
      poll: pollTrackersWith(deps, (result) => {
        runs++
        return result
      }),
    })
    for (;;) {
      const { nextWakeAt } = await poller.step()
      if (!nextWakeAt || nextWakeAt > o.until) break
      o.clock.set(nextWakeAt)
    }
  }
  return { runs, requests: times.length, maxRequestsInAnHour: maxInWindow(times, HOUR_MS) }
}

/** The most timestamps in any window of `windowMs` (sorted input). */
function maxInWindow(times: readonly number[], windowMs: number): number {
  let best = 0
  let start = 0
  for (let end = 0; end < times.length; end++) {
    while (times[end]! - times[start]! >= windowMs) start++
    best = Math.max(best, end - start + 1)
  }
  return best
}
