import { createApiToken, parseApiEnv, type RunningApi, startApi } from '@tracker/api'
import { KeyOpener } from '@tracker/db'
import { hourlyTierStart, selectHistory } from '@tracker/history'
import { InProcessLockService } from '@tracker/locks'
import { withBenchDatabase } from '../bench-database.ts'
import type { BenchContext } from '../context.ts'
import { duration, formatNumber } from '../format.ts'
import { DAY_MS, dayStart, refreshSeededHistory, seedHistory } from '../history-seed.ts'
import { type LoadResult, runAutocannon } from '../load/autocannon.ts'
import { startHelloServer } from '../load/hello-server.ts'
import { type InProcessLoadResult, runInProcessLoad } from '../load/in-process-load.ts'
import type { FigureResult, FigureRow, Quantity } from '../results.ts'
import type { ScaleSettings } from '../scales.ts'
import { median, ratio } from '../stats.ts'

const TARGET = 0.5

const HISTORY_QUERY = `query History($trackerId: ID!, $startTime: DateTime!, $endTime: DateTime!) {
  locationHistoryAggregated(trackerId: $trackerId, startTime: $startTime, endTime: $endTime, bucketSize: "1 day") {
    timestamp bucketSize location { latitude longitude } nearestCity accuracy reportCount firstReportAt lastReportAt
  }
}`

type TargetName = 'hello' | 'api30' | 'api500' | 'db30' | 'db500' | 'sql30' | 'sql500'
type Measurement = { kind: 'http'; result: LoadResult } | { kind: 'sql'; result: InProcessLoadResult }

interface Summary {
  perS: number
  p50: number
  p99: number
}

/**
 * Figure 3. locationHistoryAggregated for one tracker with 30 and with 500 daily points, under
 * concurrent load from a separate autocannon process, against a bare Fastify + Mercurius
 * hello-world served the same way, and against selectHistory (the same SQL) called in-process with
 * the same concurrency. The API runs twice on the same database: as deployed (history cache on: a
 * repeated query is answered from memory until the data changes) and with the cache off (every
 * request queries). Targets are measured round-robin, so each sees the same machine noise.
 */
export async function apiFigure(ctx: BenchContext, settings: ScaleSettings['api']): Promise<FigureResult> {
  const started = performance.now()
  return withBenchDatabase(ctx.env, { storage: 'memory' }, async (bench) => {
    const { database } = bench
    const now = new Date()
    ctx.progress('api: seeding 30 and 500 days of daily history')
    // 500 hourly points cannot exist (the hourly tier keeps 24 hours): 500 daily points instead,
    // materialized before any retention job could run.
    const a = await seedHistory(database.db, {
      trackers: 1,
      dailyDays: 30,
      hourlyHours: 0,
      now,
      prefix: 'api 30',
    })
    const b = await seedHistory(database.db, {
      trackers: 1,
      dailyDays: 500,
      hourlyHours: 0,
      now,
      prefix: 'api 500',
    })
    await refreshSeededHistory(database, now, 500)
    const endTime = now
    const range = (days: number) => ({ from: new Date(dayStart(now.getTime()) - days * DAY_MS), to: endTime })
    const tracker30 = { id: a.trackers[0]!.id, ...range(30), points: 30 }
    const tracker500 = { id: b.trackers[0]!.id, ...range(500), points: 500 }

    const token = (await createApiToken(database.db, { name: 'bench', scope: 'read' })).token
    const keySealingPublicKey = KeyOpener.generate().publicKey
    const configWith = (cacheTtl: string | undefined) =>
      parseApiEnv({
        KEY_SEALING_PUBLIC_KEY: keySealingPublicKey,
        API_HOST: '127.0.0.1',
        API_PORT: '0',
        // The load is one token: the per-token limit would answer 429s instead of measuring the query.
        API_RATE_LIMIT_MAX: '1000000000',
        LOG_LEVEL: ctx.env.logLevel,
        ...(cacheTtl !== undefined ? { API_HISTORY_CACHE_TTL: cacheTtl } : {}),
      })
    const locks = new InProcessLockService()
    // As deployed (history cache on), and the same API with the cache off: every request to the database.
    const api = await startApi({
      database,
      locks,
      logger: ctx.logger.child({ app: 'api' }),
      config: configWith(undefined),
    })
    const uncachedApi = await startApi({
      database,
      locks,
      logger: ctx.logger.child({ app: 'api-uncached' }),
      config: configWith('0'),
    })
    const hello = await startHelloServer()
    try {
      await waitUntil(() => api.app.services.historyCache.serving, 10_000, 'the history cache to connect')
      const headers = { 'content-type': 'application/json', authorization: `Bearer ${token}` }
      const historyBody = (t: { id: string; from: Date; to: Date }) =>
        JSON.stringify({
          query: HISTORY_QUERY,
          variables: { trackerId: t.id, startTime: t.from.toISOString(), endTime: t.to.toISOString() },
        })
      const http = {
        hello: { url: hello.url, body: JSON.stringify({ query: '{ hello }' }) },
        api30: { url: `${api.address}/graphql`, body: historyBody(tracker30) },
        api500: { url: `${api.address}/graphql`, body: historyBody(tracker500) },
        db30: { url: `${uncachedApi.address}/graphql`, body: historyBody(tracker30) },
        db500: { url: `${uncachedApi.address}/graphql`, body: historyBody(tracker500) },
      }
      await checkAnswers(http, headers, { api30: 30, api500: 500, db30: 30, db500: 500 })
      // The SQL behind locationHistoryAggregated, called as the API's history service calls it.
      const sql = (t: typeof tracker30) => () =>
        selectHistory(database.db, {
          trackerId: t.id,
          from: t.from,
          to: t.to,
          bucketSize: '1 day',
          tierStart: hourlyTierStart(new Date()),
          limit: 501,
        })
      const rowsOf = async (t: typeof tracker30) => (await sql(t)()).length
      if ((await rowsOf(tracker30)) !== 30 || (await rowsOf(tracker500)) !== 500)
        throw new Error('selectHistory does not return the seeded points')

      const run = async (name: TargetName, durationS: number): Promise<Measurement> => {
        if (name === 'sql30' || name === 'sql500') {
          const fn = sql(name === 'sql30' ? tracker30 : tracker500)
          return {
            kind: 'sql',
            result: await runInProcessLoad(fn, { concurrency: settings.connections, durationS }),
          }
        }
        const target = http[name]
        return {
          kind: 'http',
          result: await runAutocannon({ ...target, headers, connections: settings.connections, durationS }),
        }
      }
      const names: TargetName[] = ['hello', 'api30', 'api500', 'db30', 'db500', 'sql30', 'sql500']
      if (settings.warmupS > 0) {
        ctx.progress(`api: warming up (${settings.warmupS} s each)`)
        for (const name of names) await run(name, settings.warmupS)
      }
      const measurements: Record<TargetName, Measurement[]> = {
        hello: [],
        api30: [],
        api500: [],
        db30: [],
        db500: [],
        sql30: [],
        sql500: [],
      }
      const lookupsBefore = await cacheLookups(api)
      for (let round = 0; round < settings.rounds; round++) {
        ctx.progress(`api: round ${round + 1}/${settings.rounds} (${settings.durationS} s per target)`)
        // Rotate the order, so no target always runs right after the same one.
        for (let i = 0; i < names.length; i++) {
          const name = names[(i + round) % names.length]!
          measurements[name].push(await run(name, settings.durationS))
        }
      }
      const failures = Object.entries(measurements).flatMap(([name, list]) =>
        list.flatMap((m) =>
          m.kind === 'http'
            ? m.result.non2xx + m.result.errors + m.result.timeouts > 0
              ? [
                  `${name}: ${m.result.non2xx} non-2xx, ${m.result.errors} errors, ${m.result.timeouts} timeouts`,
                ]
              : []
            : m.result.errors > 0
              ? [`${name}: ${m.result.errors} errors (${m.result.firstError})`]
              : [],
        ),
      )
      const lookupsAfter = await cacheLookups(api)
      const answered = (k: 'response' | 'page' | 'database') => lookupsAfter[k] - lookupsBefore[k]
      const total = answered('response') + answered('page') + answered('database')
      const share = (k: 'response' | 'page' | 'database') =>
        `${formatNumber(answered(k))} (${((100 * answered(k)) / Math.max(1, total)).toFixed(1)}%)`
      const cacheNote = `history cache on (as deployed), nothing written during the load: of ${formatNumber(total)} answers, ${share('response')} were kept whole responses, ${share('page')} kept history pages, ${share('database')} read from the database`
      const s = Object.fromEntries(names.map((name) => [name, summarize(measurements[name])])) as Record<
        TargetName,
        Summary
      >
      const httpQuantity = (x: Summary): Quantity => ({
        value: x.perS,
        unit: 'req/s',
        text: `${formatNumber(x.perS)} req/s (p50 ${duration(x.p50)}, p99 ${duration(x.p99)})`,
      })
      const sqlBaseline = (x: Summary) => ({
        label: 'selectHistory in-process, same concurrency',
        value: x.perS,
        unit: 'ops/s',
        text: `${formatNumber(x.perS)} ops/s (p50 ${duration(x.p50)}, p99 ${duration(x.p99)})`,
      })
      const helloBaseline = { label: 'Fastify + Mercurius { hello }', ...httpQuantity(s.hello) }
      const ratio30 = ratio(s.api30.perS, s.hello.perS)
      const rows: FigureRow[] = [
        {
          id: 'api.30.hello',
          label: 'api, locationHistoryAggregated, 30 daily points (history cache on)',
          measured: httpQuantity(s.api30),
          baseline: helloBaseline,
          ratio: ratio30,
          target: `>= ${TARGET} of hello-world`,
          verdict: ratio30 !== null && ratio30 >= TARGET ? 'met' : 'not met',
          note: cacheNote,
        },
        {
          id: 'api.30.uncached',
          label: 'api, 30 daily points, history cache off (every request queries)',
          measured: httpQuantity(s.db30),
          baseline: helloBaseline,
          ratio: ratio(s.db30.perS, s.hello.perS),
          target: null,
          verdict: 'info',
          note: capNote(s.sql30.perS / s.hello.perS, bench.mode),
        },
        {
          id: 'api.30.sql',
          label: 'api, 30 daily points, cache off, against its SQL alone',
          measured: httpQuantity(s.db30),
          baseline: sqlBaseline(s.sql30),
          ratio: ratio(s.db30.perS, s.sql30.perS),
          target: null,
          verdict: 'info',
        },
        {
          id: 'api.500.hello',
          label: 'api, locationHistoryAggregated, 500 daily points (history cache on)',
          measured: httpQuantity(s.api500),
          baseline: helloBaseline,
          ratio: ratio(s.api500.perS, s.hello.perS),
          target: null,
          verdict: 'info',
          note: '500 daily points: the hourly tier keeps 24 hours, so 500 hourly points cannot exist',
        },
        {
          id: 'api.500.sql',
          label: 'api, 500 daily points, cache off, against its SQL alone',
          measured: httpQuantity(s.db500),
          baseline: sqlBaseline(s.sql500),
          ratio: ratio(s.db500.perS, s.sql500.perS),
          target: null,
          verdict: 'info',
        },
      ]
      if (failures.length > 0) {
        for (const row of rows)
          row.note = [row.note, `failed requests: ${failures.join('; ')}`].filter(Boolean).join('; ')
      }
      return {
        name: 'api' as const,
        title: 'API',
        status: 'measured' as const,
        durationS: (performance.now() - started) / 1000,
        rows,
        raw: { settings, engine: bench.label, summaries: s, measurements, failures },
        notes: [
          `${settings.connections} connections, ${settings.durationS} s per target, ${settings.rounds} round(s) round-robin (medians), autocannon in a separate process; both APIs (history cache on, and off) and the ${bench.label} database share this process. 500 points are daily points (the hourly tier keeps 24 hours), ${bench.mode === 'embedded' ? 'materialized before any retention job' : 'policy jobs paused'}. API_RATE_LIMIT_MAX raised for the run; LOG_LEVEL=${ctx.env.logLevel}.`,
        ],
      }
    } finally {
      await hello.stop()
      await api.stop()
      await uncachedApi.stop()
    }
  })
}

/** When the query alone cannot reach the target, the API cannot either: say so. */
function capNote(sqlShare: number, mode: 'embedded' | 'postgres'): string | undefined {
  if (!(sqlShare < TARGET)) return undefined
  const engine =
    mode === 'embedded'
      ? 'the embedded engine (one session, WebAssembly, in this process)'
      : 'the database round trip'
  return `its SQL alone, in-process, reaches only ${formatNumber(sqlShare)} of hello-world's rate: ${engine} caps it, whatever the API does`
}

async function cacheLookups(api: RunningApi): Promise<Record<'response' | 'page' | 'database', number>> {
  const counts = { response: 0, page: 0, database: 0 }
  for (const { labels, value } of (await api.app.metrics.historyCacheLookups.get()).values) {
    if (labels.result === 'hit') counts[labels.cache === 'response' ? 'response' : 'page'] += value
    // A page miss or bypass is an answer from the database; a response miss goes on to the page cache.
    else if (labels.cache === 'page') counts.database += value
  }
  return counts
}

async function waitUntil(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

function summarize(list: Measurement[]): Summary {
  const perS = median(list.map((m) => (m.kind === 'http' ? m.result.requestsPerS : m.result.opsPerS)))
  return {
    perS,
    p50: median(list.map((m) => m.result.latencyMs.p50)),
    p99: median(list.map((m) => m.result.latencyMs.p99)),
  }
}

/** One request to each target before any load: a wrong answer would make every number meaningless. */
async function checkAnswers(
  targets: Record<'hello' | 'api30' | 'api500' | 'db30' | 'db500', { url: string; body: string }>,
  headers: Record<string, string>,
  points: Record<'api30' | 'api500' | 'db30' | 'db500', number>,
): Promise<void> {
  for (const [name, target] of Object.entries(targets) as [
    keyof typeof targets,
    { url: string; body: string },
  ][]) {
    const response = await fetch(target.url, { method: 'POST', headers, body: target.body })
    const body = (await response.json()) as {
      data?: { hello?: string; locationHistoryAggregated?: unknown[] }
      errors?: { message: string }[]
    }
    if (!response.ok || body.errors) {
      throw new Error(
        `${name} answered ${response.status}: ${JSON.stringify(body.errors ?? body).slice(0, 300)}`,
      )
    }
    if (name === 'hello' && body.data?.hello !== 'world')
      throw new Error('the hello-world server did not say hello')
    if (name !== 'hello' && body.data?.locationHistoryAggregated?.length !== points[name]) {
      throw new Error(
        `${name} returned ${body.data?.locationHistoryAggregated?.length} points, expected ${points[name]}`,
      )
    }
  }
}
