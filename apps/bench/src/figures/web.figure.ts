import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { createApiToken, parseApiEnv, startApi } from '@tracker/api'
import { KeyOpener } from '@tracker/db'
import { InProcessLockService } from '@tracker/locks'
import { webDistBuilt, webDistDir } from '@tracker/web'
import { chromium, type Page } from 'playwright-core'
import { withBenchDatabase } from '../bench-database.ts'
import type { BenchContext } from '../context.ts'
import { duration, formatNumber } from '../format.ts'
import { refreshSeededHistory, seedHistory } from '../history-seed.ts'
import type { FigureResult } from '../results.ts'
import type { ScaleSettings } from '../scales.ts'
import { median } from '../stats.ts'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const TARGET = 1

/** The web app's dist, built by its own Vite when missing (a fresh clone has none). */
function ensureWebBuilt(): string | null {
  if (webDistBuilt()) return null
  const webDir = dirname(webDistDir)
  const build = spawnSync(join(webDir, 'node_modules', '.bin', 'vite'), ['build'], {
    cwd: webDir,
    stdio: 'inherit',
  })
  return build.status === 0 && webDistBuilt() ? null : `vite build of apps/web failed (exit ${build.status})`
}

interface PageRun {
  /** From choosing the range to the points painted (the page's own User Timing measure). */
  totalMs: number
  /** The same requests' part of it, as the page saw them. */
  fetchMs: number
  points: number
  bodies: string[]
}

/**
 * Figure 7. The web app: time from choosing "Last year" to the points drawn, for N trackers with a
 * year of daily history and a day of hourly history, in headless Chromium (Debian's, no GPU), beside
 * the same GraphQL requests replayed alone by fetch in the same page (same concurrency, bodies parsed,
 * nothing drawn). Target: drawing adds no more than the data fetch itself, (total - fetch) / fetch <= 1.
 * The API's history cache is off, so every request reaches the database in both.
 */
export async function webFigure(ctx: BenchContext, settings: ScaleSettings['web']): Promise<FigureResult> {
  const started = performance.now()
  const notMeasured = (reason: string): FigureResult => ({
    name: 'web',
    title: 'Web app: range chosen to points drawn',
    status: 'not measured',
    reason,
    durationS: (performance.now() - started) / 1000,
    rows: [],
    raw: null,
    notes: [],
  })
  if (!existsSync(CHROMIUM))
    return notMeasured(`Chromium not found at ${CHROMIUM} (apt-get install chromium)`)
  const buildFailure = ensureWebBuilt()
  if (buildFailure) return notMeasured(buildFailure)

  return withBenchDatabase(ctx.env, { storage: 'memory' }, async (bench) => {
    const { database } = bench
    const now = new Date()
    ctx.progress(
      `web: seeding ${settings.trackers} trackers with 365 days of daily and 24 hours of hourly history`,
    )
    await seedHistory(database.db, {
      trackers: settings.trackers,
      dailyDays: 365,
      hourlyHours: 24,
      now,
      prefix: 'web',
    })
    await refreshSeededHistory(database, now, 366)
    const token = (await createApiToken(database.db, { name: 'bench web', scope: 'read' })).token
    const api = await startApi({
      database,
      locks: new InProcessLockService(),
      logger: ctx.logger.child({ app: 'api' }),
      config: parseApiEnv({
        KEY_SEALING_PUBLIC_KEY: KeyOpener.generate().publicKey,
        API_HOST: '127.0.0.1',
        API_PORT: '0',
        API_RATE_LIMIT_MAX: '1000000000',
        API_HISTORY_CACHE_TTL: '0',
        API_REQUEST_LOGGING: 'false',
        WEB_ROOT: webDistDir,
        LOG_LEVEL: ctx.env.logLevel,
      }),
    })
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    })
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 800 } })
      await page.goto(api.address)
      await page.getByLabel('API token').fill(token)
      await page.getByRole('button', { name: 'Sign in' }).click()
      await page
        .locator('li.tracker')
        .nth(settings.trackers - 1)
        .waitFor()
      await page.locator('#select-all').click()
      await page.locator('#map[data-state="drawn"]').waitFor({ timeout: 300_000 })

      const runs: PageRun[] = []
      const alone: number[] = []
      for (let round = 0; round < settings.rounds; round++) {
        ctx.progress(`web: round ${round + 1}/${settings.rounds}`)
        // Back to 24 hours, then the year: each year is a fresh choice, as a user makes it.
        await chooseRange(page, '24h')
        runs.push(await chooseRange(page, '1y'))
        alone.push(await replayAlone(page, runs.at(-1)!.bodies))
      }
      const total = median(runs.map((r) => r.totalMs))
      const fetchAlone = median(alone)
      const added = Math.max(0, total - fetchAlone)
      const ratio = added / fetchAlone
      const points = runs[0]!.points
      const requests = runs[0]!.bodies.length
      return {
        name: 'web',
        title: 'Web app: range chosen to points drawn',
        status: 'measured',
        durationS: (performance.now() - started) / 1000,
        rows: [
          {
            id: 'web.year',
            label: `${settings.trackers} trackers, "Last year" (${formatNumber(points)} points, ${requests} requests), headless Chromium`,
            measured: {
              value: added,
              unit: 'ms',
              text: `${duration(total)} in all, drawing adds ${duration(added)}`,
            },
            baseline: {
              value: fetchAlone,
              unit: 'ms',
              text: duration(fetchAlone),
              label: 'the same GraphQL requests alone (fetch in the page)',
            },
            ratio,
            target: `drawing <= ${TARGET}x the fetch`,
            verdict: ratio <= TARGET ? 'met' : 'not met',
            note: `the page's own fetch part: ${duration(median(runs.map((r) => r.fetchMs)))}`,
          },
        ],
        raw: { runs: runs.map(({ bodies: _bodies, ...run }) => run), alone, requests, points },
        notes: [],
      }
    } finally {
      await browser.close()
      await api.stop()
    }
  })
}

/** Picks a range and waits for the page's measure of it; the GraphQL bodies it sent are kept. */
async function chooseRange(page: Page, range: string): Promise<PageRun> {
  const bodies: string[] = []
  const listener = (request: import('playwright-core').Request) => {
    const body = request.postData()
    if (body?.includes('locationHistoryPage')) bodies.push(body)
  }
  page.on('request', listener)
  const map = page.locator('#map')
  await map.evaluate((element) => {
    ;(element as unknown as { dataset: Record<string, string> }).dataset.state = 'choosing'
  })
  await page.locator('#range').selectOption(range)
  await page.locator('#map[data-state="drawn"]').waitFor({ timeout: 300_000 })
  page.off('request', listener)
  const measured = await map.evaluate((element) => ({
    totalMs: performance.getEntriesByName('history', 'measure')[0]!.duration,
    fetchMs: performance.getEntriesByName('history-fetch', 'measure')[0]!.duration,
    points: Number((element as unknown as { dataset: Record<string, string> }).dataset.points),
  }))
  return { ...measured, bodies }
}

/** The same requests, fetched and parsed in the page with the page's concurrency (6), nothing drawn. */
async function replayAlone(page: Page, bodies: string[]): Promise<number> {
  return page.evaluate(async (all) => {
    const started = performance.now()
    let next = 0
    const worker = async () => {
      while (next < all.length) {
        const body = all[next++]!
        const response = await fetch('/graphql', {
          method: 'POST',
          credentials: 'same-origin',
          headers: { 'content-type': 'application/json' },
          body,
        })
        const parsed = (await response.json()) as { errors?: unknown }
        if (parsed.errors) throw new Error(JSON.stringify(parsed.errors))
      }
    }
    await Promise.all(Array.from({ length: 6 }, worker))
    return performance.now() - started
  }, bodies)
}
