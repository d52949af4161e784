import { randomBytes } from 'node:crypto'
import type { RefreshEvent } from '@tracker/history'
import pino from 'pino'
import { vi } from 'vitest'
import { parseRefresherEnv, type RefresherConfig } from '../../src/env.ts'
import { type RunningRefresher, startRefresher } from '../../src/index.ts'
import type { PeriodicCycleEvent } from '../../src/periodic/periodic-events.ts'
import type { RefresherHealth, RefresherHooks } from '../../src/refresher.ts'

/** Logs stay quiet in tests; failures show up in assertions, not in log noise. */
export const testLogger = pino({ level: 'silent' })

/** A configuration as the env module builds it, with test-friendly defaults (free port, no pauses). */
export function testConfig(env: Record<string, string> = {}): RefresherConfig {
  return parseRefresherEnv({
    REFRESHER_HTTP_PORT: '0',
    REFRESHER_HTTP_HOST: '127.0.0.1',
    REFRESH_MIN_INTERVAL: '0',
    SHUTDOWN_GRACE: '5 seconds',
    LOG_LEVEL: 'silent',
    ...env,
  })
}

type StartOptions = Parameters<typeof startRefresher>[0]

/**
 * A refresher as these tests run one (periodic refresh hourly, quiet logs, `hooks` recording),
 * resolved once its first periodic pass has ended (with `outcome`, when given) and it is not
 * refreshing, so what a test does next is not raced by start-up.
 */
export async function startSettledRefresher(options: {
  database: StartOptions['database']
  locks: StartOptions['locks']
  hooks: Recorder
  outcome?: NonNullable<RefresherHealth['periodic']['lastOutcome']>
}): Promise<RunningRefresher> {
  const refresher = await startRefresher({
    database: options.database,
    locks: options.locks,
    logger: testLogger,
    config: testConfig({ PERIODIC_REFRESH_INTERVAL: '1 hour' }),
    hooks: options.hooks,
  })
  await vi.waitFor(
    () => {
      const health = refresher.health()
      const { lastOutcome } = health.periodic
      const passed = options.outcome === undefined ? lastOutcome !== null : lastOutcome === options.outcome
      if (!passed || health.refreshing) throw new Error('still starting')
    },
    { timeout: 30_000, interval: 50 },
  )
  return refresher
}

/** Redis keys of one test only, so runs (and tests) never share locks. */
export function uniqueKeyPrefix(): string {
  return `test:refresher:${randomBytes(4).toString('hex')}:`
}

/** Collects what a refresher reports through its hooks. */
export class Recorder implements RefresherHooks {
  readonly refreshes: RefreshEvent[] = []
  readonly cycles: (PeriodicCycleEvent & { replica: string })[] = []
  readonly replica: string

  constructor(replica = 'a') {
    this.replica = replica
  }

  onRefresh = (event: RefreshEvent): void => {
    this.refreshes.push(event)
  }

  onPeriodicCycle = (event: PeriodicCycleEvent): void => {
    this.cycles.push({ ...event, replica: this.replica })
  }

  refreshesOf(
    object: RefreshEvent['object'],
    filter: Partial<Pick<RefreshEvent, 'outcome' | 'trigger'>> = {},
  ) {
    return this.refreshes.filter(
      (e) =>
        e.object === object &&
        (filter.outcome === undefined || e.outcome === filter.outcome) &&
        (filter.trigger === undefined || e.trigger === filter.trigger),
    )
  }
}

/** GET /health over real HTTP. */
export async function getHealth(port: number): Promise<{ status: number; body: RefresherHealth }> {
  const response = await fetch(`http://127.0.0.1:${port}/health`)
  return { status: response.status, body: (await response.json()) as RefresherHealth }
}

export async function getText(port: number, path: string): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`)
  return response.text()
}

/** The value of one sample in Prometheus text, e.g. metricValue(text, 'x_total{object="a"}'). */
export function metricValue(text: string, sample: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `))
  return line === undefined ? undefined : Number(line.slice(sample.length + 1))
}
