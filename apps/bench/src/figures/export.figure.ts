import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { copyText, createApiToken, parseApiEnv, reportExportQuery, startApi } from '@tracker/api'
import { type EmbeddedDatabase, KeyOpener, sql } from '@tracker/db'
import { historyQuery, hourlyTierStart } from '@tracker/history'
import { InProcessLockService } from '@tracker/locks'
import pg from 'pg'
import { to as copyTo } from 'pg-copy-streams'
import { type BenchDatabase, withBenchDatabase } from '../bench-database.ts'
import type { ExportClientConfig, ExportClientFormat, ExportClientResult } from '../child/export-client.ts'
import type { BenchContext } from '../context.ts'
import { duration, formatNumber, formatRatio, mb } from '../format.ts'
import { DAY_MS, dayStart, refreshSeededHistory, seedHistory } from '../history-seed.ts'
import type { FigureResult, FigureRow } from '../results.ts'
import { RssSampler, type RssSummary } from '../rss-sampler.ts'
import type { ScaleSettings } from '../scales.ts'
import { median, ratio, toMb } from '../stats.ts'

const CLIENT = fileURLToPath(new URL('../child/export-client.ts', import.meta.url))
/** The issue's targets: >= 0.5 of bare COPY's rows/s; RSS flat, growth under 64 MB. */
const TARGET_RATIO = 0.5
const TARGET_GROWTH_MB = 64
/** Trackers in one export request at most (the API's EXPORT_MAX_TRACKERS). */
const TRACKERS_PER_REQUEST = 100
/** A year of daily history: the history export's range. */
const HISTORY_DAYS = 365

type Kind = 'reports' | 'history'

interface ExportRun {
  format: ExportClientFormat
  client: ExportClientResult
  rss: RssSummary
  /** Where the process's memory was before and after the export (what grew, if RSS did). */
  memory: { before: MemorySnapshot; after: MemorySnapshot }
}

/** The process's memory by part, MB: V8's heap, memory outside it, and the embedded engine's WebAssembly memory. */
interface MemorySnapshot {
  rss: number
  heapUsed: number
  heapTotal: number
  external: number
  arrayBuffers: number
  /** The embedded engine's WebAssembly memory as reserved (its pages count in RSS once touched). */
  engine?: number
}

interface BareRun {
  rows: number
  bytes: number
  ms: number
  rss: RssSummary
}

interface KindPlan {
  kind: Kind
  trackerIds: string[]
  from: Date
  to: Date
  /** The export URLs: a request per TRACKERS_PER_REQUEST trackers. */
  urls: (format: ExportClientFormat) => string[]
  /** The export's own statement for each tracker, parameters written in (COPY takes none). */
  statements: string[]
  expectedRows: number
}

/**
 * Figure 8. Exports, streamed by the real API (startApi, in this process, as the other figures run
 * it) to a client in a separate process that reads every body to its end and counts its rows: N raw
 * reports (within raw retention, over the last few days) via GET /export/reports.<format>, and a
 * year of daily history of M trackers via GET /export/history.<format>?bucketSize=1 day, 100
 * trackers per request (the API's limit). Baseline: a bare COPY (…) TO STDOUT of the same rows in
 * the same run, the export's own statement for each tracker (pg-copy-streams on a server; on the
 * embedded engine its COPY … TO '/dev/blob', which hands the output over whole). Target: rows/s
 * >= 0.5 of bare COPY. On the embedded engine each row also notes the ratio against a stricter
 * bare COPY: the same statements into the device the reports export COPYs its pages into (the
 * API's copyText), which skips '/dev/blob''s Blob. And this process's RSS (API + engine) while
 * exporting: growth under 64 MB.
 */
export async function exportFigure(
  ctx: BenchContext,
  settings: ScaleSettings['export'],
): Promise<FigureResult> {
  const started = performance.now()
  // On disk: the engine's data is not the process's RSS, and a spilling cursor spills to a file.
  return withBenchDatabase(ctx.env, { storage: 'disk' }, async (bench) => {
    const { database } = bench
    const db = database.db
    const now = new Date(Math.floor(Date.now() / 1000) * 1000)
    const { reports, history } = settings

    ctx.progress(`export: seeding ${history.trackers} trackers with ${HISTORY_DAYS} days of daily history`)
    const seededHistory = await seedHistory(db, {
      trackers: history.trackers,
      dailyDays: HISTORY_DAYS,
      hourlyHours: 0,
      now,
      prefix: 'export history',
    })
    await refreshSeededHistory(database, now, HISTORY_DAYS + 1)
    const reportCount = reports.trackers * reports.perTracker
    ctx.progress(
      `export: seeding ${formatNumber(reportCount)} raw reports (${reports.trackers} trackers, the last ${reports.days} days)`,
    )
    const seededReports = await seedReports(bench, { ...reports, now })

    const token = (await createApiToken(db, { name: 'bench export', scope: 'read' })).token
    const api = await startApi({
      database,
      locks: new InProcessLockService(),
      logger: ctx.logger.child({ app: 'api' }),
      config: parseApiEnv({
        KEY_SEALING_PUBLIC_KEY: KeyOpener.generate().publicKey,
        API_HOST: '127.0.0.1',
        API_PORT: '0',
        // One client, one token, many requests: the per-token limit must not answer 429s.
        API_RATE_LIMIT_MAX: '1000000000',
        API_REQUEST_LOGGING: 'false',
        LOG_LEVEL: ctx.env.logLevel,
      }),
    })
    const bare = await openBareCopy(bench)
    try {
      const historyFrom = new Date(dayStart(now.getTime()) - HISTORY_DAYS * DAY_MS)
      const plans: KindPlan[] = [
        {
          kind: 'reports',
          trackerIds: seededReports.trackerIds,
          from: seededReports.from,
          to: now,
          urls: (format) =>
            requests(seededReports.trackerIds).map(
              (ids) =>
                `${api.address}/export/reports.${format}?${query(ids, { from: seededReports.from, to: now })}`,
            ),
          statements: seededReports.trackerIds.map((id) =>
            inline(reportExportQuery(db, { trackerId: id, from: seededReports.from, to: now }).compile()),
          ),
          expectedRows: seededReports.reports,
        },
        {
          kind: 'history',
          trackerIds: seededHistory.trackers.map((t) => t.id),
          from: historyFrom,
          to: now,
          urls: (format) =>
            requests(seededHistory.trackers.map((t) => t.id)).map(
              (ids) =>
                `${api.address}/export/history.${format}?${query(ids, { from: historyFrom, to: now, bucketSize: '1 day' })}`,
            ),
          statements: seededHistory.trackers.map((t) =>
            inline(
              historyQuery({
                trackerId: t.id,
                from: historyFrom,
                to: now,
                bucketSize: '1 day',
                tierStart: hourlyTierStart(now),
              }).compile(db),
            ),
          ),
          expectedRows: history.trackers * HISTORY_DAYS,
        },
      ]

      // Every row read once before anything is measured, inside the engine (a count per tracker's
      // statement: nothing comes back to this process). On the embedded engine the database's page
      // cache lives in this process: read cold, 1M reports grow RSS by the pages read, which is the
      // cache warming, not the export holding rows (and the bare COPY would find it warm).
      ctx.progress('export: warming the database cache (every row read once, counted in the engine)')
      for (const plan of plans) {
        for (const statement of plan.statements)
          await sql.raw(`SELECT count(*) FROM (${statement}) AS warm`).execute(db)
      }

      const runs: Record<
        Kind,
        {
          warmup?: ExportRun
          exports: ExportRun[]
          bare: BareRun[]
          sink: BareRun[]
          /** RSS at rest before each round's first export. */
          restingMb: number[]
        }
      > = {
        reports: { exports: [], bare: [], sink: [], restingMb: [] },
        history: { exports: [], bare: [], sink: [], restingMb: [] },
      }
      const exportOnce = async (plan: KindPlan, format: ExportClientFormat): Promise<ExportRun> => {
        const before = memorySnapshot(bench)
        const sampler = await RssSampler.start(50)
        const client = await runClient({ urls: plan.urls(format), token, format }).catch(
          async (error: unknown) => {
            await sampler.stop()
            throw error
          },
        )
        const rss = await sampler.stop()
        if (client.rows !== plan.expectedRows)
          throw new Error(
            `the ${plan.kind} export as ${format} held ${client.rows} rows, expected ${plan.expectedRows}`,
          )
        return { format, client, rss, memory: { before, after: memorySnapshot(bench) } }
      }

      // A warm-up export of each kind, not measured (the first iteration of any benchmark): the
      // first pass of the export's own statements fills the engine's buffer cache with the pages
      // they read (an index scan per page, which the count above does not take) and compiles the
      // writers; RSS at rest is taken after it. Its own growth is kept and reported beside the rows.
      for (const plan of plans) {
        ctx.progress(`export: warm-up, ${plan.kind} as csv (not measured)`)
        runs[plan.kind].warmup = await exportOnce(plan, 'csv')
      }

      for (let round = 0; round < settings.rounds; round++) {
        for (const plan of plans) {
          const kindRuns = runs[plan.kind]
          // RSS at rest before each round: a round's exports are measured from there. The previous
          // round's bare COPY (its output whole, on the embedded engine) leaves the process larger.
          kindRuns.restingMb.push(toMb(process.memoryUsage.rss()))
          // The exports first: the bare COPY's output (whole, on the embedded engine) would otherwise
          // be garbage still held while an export's RSS is sampled.
          for (const format of settings.formats) {
            ctx.progress(
              `export: round ${round + 1}/${settings.rounds}, ${plan.kind} as ${format} (${formatNumber(plan.expectedRows)} rows)`,
            )
            kindRuns.exports.push(await exportOnce(plan, format))
          }
          ctx.progress(`export: round ${round + 1}/${settings.rounds}, ${plan.kind}: bare COPY`)
          const bareRun = await bare.run(plan.statements)
          if (bareRun.rows !== plan.expectedRows)
            throw new Error(
              `the bare COPY of ${plan.kind} gave ${bareRun.rows} rows, expected ${plan.expectedRows}`,
            )
          kindRuns.bare.push(bareRun)
          if (bare.sink) {
            ctx.progress(
              `export: round ${round + 1}/${settings.rounds}, ${plan.kind}: bare COPY into the copy device`,
            )
            const sinkRun = await bare.sink.run(plan.statements)
            if (sinkRun.rows !== plan.expectedRows)
              throw new Error(
                `the bare COPY of ${plan.kind} into the copy device gave ${sinkRun.rows} rows, expected ${plan.expectedRows}`,
              )
            kindRuns.sink.push(sinkRun)
          }
        }
      }

      const rows: FigureRow[] = []
      for (const plan of plans) {
        const kindRuns = runs[plan.kind]
        const bareRate = median(kindRuns.bare.map((r) => (r.rows / r.ms) * 1000))
        const bareMs = median(kindRuns.bare.map((r) => r.ms))
        const baseline = {
          label: bare.label,
          value: bareRate,
          unit: 'rows/s',
          text: `${formatNumber(bareRate)} rows/s (${duration(bareMs)})`,
        }
        const what =
          plan.kind === 'reports'
            ? `${formatNumber(plan.expectedRows)} raw reports (${formatNumber(plan.trackerIds.length)} trackers, last ${reports.days} days)`
            : `a year of daily history, ${formatNumber(plan.trackerIds.length)} trackers (${formatNumber(plan.expectedRows)} points)`
        const requestCount = Math.ceil(plan.trackerIds.length / TRACKERS_PER_REQUEST)
        const sinkRate =
          kindRuns.sink.length > 0 ? median(kindRuns.sink.map((r) => (r.rows / r.ms) * 1000)) : undefined
        for (const format of settings.formats) {
          const list = kindRuns.exports.filter((r) => r.format === format)
          const rate = median(list.map((r) => (r.client.rows / r.client.ms) * 1000))
          const ms = median(list.map((r) => r.client.ms))
          const bytes = list[0]!.client.bytes
          const share = ratio(rate, bareRate)
          rows.push({
            id: `export.${plan.kind}.${format}`,
            label: `export, ${what}, ${format.toUpperCase()} (${requestCount} request${requestCount === 1 ? '' : 's'})`,
            measured: {
              value: rate,
              unit: 'rows/s',
              text: `${formatNumber(rate)} rows/s (${duration(ms)}, ${mb(bytes / 1024 / 1024)})`,
            },
            baseline,
            ratio: share,
            target: `>= ${TARGET_RATIO} of bare COPY`,
            verdict: share !== null && share >= TARGET_RATIO ? 'met' : 'not met',
            ...(sinkRate !== undefined && bare.sink
              ? {
                  note: `${formatRatio(ratio(rate, sinkRate))} of a bare COPY of the same statements into ${bare.sink.label}: ${formatNumber(sinkRate)} rows/s (${duration(median(kindRuns.sink.map((r) => r.ms)))})`,
                }
              : {}),
          })
        }
        // Each round: its exports' highest RSS over the RSS at rest before them; the worst round counts.
        const perRound = kindRuns.restingMb.map((restingMb, round) => {
          const inRound = kindRuns.exports.slice(
            round * settings.formats.length,
            (round + 1) * settings.formats.length,
          )
          const peakMb = Math.max(...inRound.map((r) => r.rss.peakMb))
          return { round, restingMb, peakMb, growth: peakMb - restingMb }
        })
        const worst = perRound.reduce((a, b) => (b.growth > a.growth ? b : a))
        const { growth, peakMb, restingMb } = worst
        const bareGrowth = Math.max(...kindRuns.bare.map((r) => r.rss.peakMb - r.rss.startMb))
        rows.push({
          id: `export.${plan.kind}.rss`,
          label: `export RSS growth (API + engine process), ${what}, peak over every format of a round`,
          measured: {
            value: growth,
            unit: 'MB',
            text: `${growth >= 0 ? '+' : ''}${mb(growth)} (peak ${mb(peakMb)}, round ${worst.round + 1} of ${perRound.length})`,
          },
          baseline: {
            label: "the process at rest before the round's first export (API up, data loaded)",
            value: restingMb,
            unit: 'MB',
            text: mb(restingMb),
          },
          ratio: ratio(growth, restingMb),
          target: `growth < ${TARGET_GROWTH_MB} MB`,
          verdict: growth < TARGET_GROWTH_MB ? 'met' : 'not met',
          note: `every round: ${perRound.map((r) => `${r.growth >= 0 ? '+' : ''}${mb(r.growth)} over ${mb(r.restingMb)}`).join(', ')}; ${warmupNote(kindRuns.warmup)}; the bare COPY's own growth over its start: ${mb(bareGrowth)}${bench.mode === 'embedded' ? " (the embedded engine's COPY hands its output over whole, and the process keeps what it took: the next round starts higher)" : ''}`,
        })
      }
      return {
        name: 'export' as const,
        title: 'Export',
        status: 'measured' as const,
        durationS: (performance.now() - started) / 1000,
        rows,
        raw: {
          settings,
          engine: bench.label,
          seeded: { reports: seededReports.reports, historyTrackers: history.trackers },
          runs: Object.fromEntries(
            Object.entries(runs).map(([kind, r]) => [
              kind,
              {
                restingMb: r.restingMb,
                warmup: r.warmup && {
                  format: r.warmup.format,
                  rows: r.warmup.client.rows,
                  ms: r.warmup.client.ms,
                  rss: r.warmup.rss,
                  memory: r.warmup.memory,
                },
                exports: r.exports.map((e) => ({
                  format: e.format,
                  rows: e.client.rows,
                  bytes: e.client.bytes,
                  ms: e.client.ms,
                  responses: e.client.responses,
                  rss: e.rss,
                  memory: e.memory,
                })),
                bare: r.bare,
                sink: r.sink,
              },
            ]),
          ),
        },
        notes: [
          `${settings.rounds} round(s), medians; each export read to its end by a client in a separate process (rows counted in the body: CSV lines, GeoJSON/KML point features, GPX trkpt), ${TRACKERS_PER_REQUEST} trackers per request, one request at a time, after every row was read once and a warm-up export of each kind (CSV, not measured; the database cache warm for both); the API and the ${bench.label} database share this process, whose RSS is sampled every 50 ms (a worker thread). The bare COPY runs the export's own statement for each tracker, parameters written in, and counts its lines. API_RATE_LIMIT_MAX raised for the run; LOG_LEVEL=${ctx.env.logLevel}.`,
        ],
      }
    } finally {
      await bare.close()
      await api.stop()
    }
  })
}

/** What the warm-up export did to memory: RSS from its start to its peak, and which part grew by its end. */
function warmupNote(warmup: ExportRun | undefined): string {
  if (!warmup) return 'no warm-up export'
  const { before, after } = warmup.memory
  const change = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined ? 'n/a' : `${b - a >= 0 ? '+' : ''}${mb(b - a)}`
  return `the warm-up export before it (CSV, not measured) took RSS from ${mb(warmup.rss.startMb)} to a peak of ${mb(warmup.rss.peakMb)} (by its end: V8 heap used ${change(before.heapUsed, after.heapUsed)}, outside the heap ${change(before.external, after.external)}, the engine's WebAssembly memory reserved ${change(before.engine, after.engine)}, RSS ${change(before.rss, after.rss)})`
}

function memorySnapshot(bench: BenchDatabase): MemorySnapshot {
  const usage = process.memoryUsage()
  const heap = bench.mode === 'embedded' ? engineHeap(bench.database as EmbeddedDatabase) : undefined
  return {
    rss: toMb(usage.rss),
    heapUsed: toMb(usage.heapUsed),
    heapTotal: toMb(usage.heapTotal),
    external: toMb(usage.external),
    arrayBuffers: toMb(usage.arrayBuffers),
    ...(heap ? { engine: toMb(heap.byteLength) } : {}),
  }
}

function engineHeap(database: EmbeddedDatabase): Uint8Array | undefined {
  return (database.engine.Module as unknown as { HEAPU8?: Uint8Array }).HEAPU8
}

/** Tracker ids in groups of what one export request may name. */
function requests(ids: string[]): string[][] {
  const groups: string[][] = []
  for (let i = 0; i < ids.length; i += TRACKERS_PER_REQUEST)
    groups.push(ids.slice(i, i + TRACKERS_PER_REQUEST))
  return groups
}

function query(ids: string[], params: { from: Date; to: Date; bucketSize?: string }): string {
  const search = new URLSearchParams()
  for (const id of ids) search.append('trackerId', id)
  search.set('from', params.from.toISOString())
  search.set('to', params.to.toISOString())
  if (params.bucketSize) search.set('bucketSize', params.bucketSize)
  return search.toString()
}

/** A compiled statement with its parameters written in as literals: COPY takes no parameters. */
export function inline(compiled: { sql: string; parameters: readonly unknown[] }): string {
  return compiled.sql.replace(/\$(\d+)/g, (_, n: string) => literal(compiled.parameters[Number(n) - 1]))
}

function literal(value: unknown): string {
  if (value === null || value === undefined) return 'NULL'
  if (typeof value === 'number' || typeof value === 'bigint') return String(value)
  if (typeof value === 'boolean') return value ? 'TRUE' : 'FALSE'
  const text = value instanceof Date ? value.toISOString() : String(value)
  return `'${text.replaceAll("'", "''")}'`
}

/**
 * Raw reports for the reports export: trackers (and a key each) made by seedHistory with no history,
 * then `perTracker` reports each, evenly over the last `days` days (within raw retention), one
 * INSERT … SELECT generate_series per batch of trackers.
 */
async function seedReports(
  bench: BenchDatabase,
  options: { trackers: number; perTracker: number; days: number; now: Date },
): Promise<{ trackerIds: string[]; reports: number; from: Date }> {
  const db = bench.database.db
  const prefix = 'export reports'
  const seeded = await seedHistory(db, {
    trackers: options.trackers,
    dailyDays: 0,
    hourlyHours: 0,
    now: options.now,
    prefix,
  })
  const spanMs = options.days * DAY_MS
  const stepMs = Math.floor(spanMs / options.perTracker)
  const from = new Date(options.now.getTime() - spanMs)
  // About 50 000 rows per statement: the embedded engine keeps a statement's work in memory.
  const batch = Math.max(1, Math.floor(50_000 / options.perTracker))
  let reports = 0
  const ids = seeded.trackers.map((t) => t.id)
  for (let i = 0; i < ids.length; i += batch) {
    const chunk = ids.slice(i, i + batch)
    const result = await sql`
      INSERT INTO location_reports
        (hashed_adv_key, "timestamp", tracker_id, latitude, longitude, horizontal_accuracy, confidence,
         status, nearest_city, published_at)
      SELECT k.hashed_adv_key, r.ts, k.tracker_id,
             40 + (abs(hashtext(tr.name)) % 1500) / 100.0 + random() * 0.05,
             -5 + (abs(hashtext(tr.name || 'lon')) % 2500) / 100.0 + random() * 0.05,
             10 + (abs(hashtext(tr.name)) % 50), 2, 0, 'Bench City, EU', r.ts + INTERVAL '5 minutes'
        FROM trackers tr
        JOIN tracker_keys k ON k.tracker_id = tr.id
       CROSS JOIN LATERAL (
             SELECT ${from.toISOString()}::timestamptz
                    + (i::bigint * ${stepMs}::bigint + abs(hashtext(tr.name)) % ${stepMs}::bigint) * INTERVAL '1 millisecond' AS ts
               FROM generate_series(0, ${options.perTracker - 1}::int) AS i) AS r
       WHERE tr.id IN (${sql.join(chunk.map((id) => sql`${id}::uuid`))})
      ON CONFLICT DO NOTHING`.execute(db)
    reports += Number(result.numAffectedRows ?? 0n)
  }
  return { trackerIds: ids, reports, from }
}

/** The export client in its own process; resolves with what it read. */
function runClient(config: ExportClientConfig): Promise<ExportClientResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLIENT, JSON.stringify(config)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8')
    })
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-4000)
    })
    child.once('error', reject)
    child.once('exit', (code) => {
      if (code === 0 && stdout.trim()) resolve(JSON.parse(stdout) as ExportClientResult)
      else reject(new Error(`the export client exited (${code}): ${stderr.trim().slice(-1000)}`))
    })
  })
}

interface BareCopy {
  label: string
  run(statements: string[]): Promise<BareRun>
  /**
   * Embedded only: the same COPY into the device the reports export itself COPYs its pages into
   * (the API's copyText), a buffer appended to, without '/dev/blob''s Blob: a stricter baseline.
   */
  sink?: { label: string; run(statements: string[]): Promise<BareRun> }
  close(): Promise<void>
}

const countLines = (chunk: Uint8Array): number => {
  let count = 0
  let at = chunk.indexOf(10)
  while (at >= 0) {
    count++
    at = chunk.indexOf(10, at + 1)
  }
  return count
}

/**
 * The baseline: COPY (statement) TO STDOUT for each tracker's statement in turn, every line
 * counted. On a server through pg-copy-streams on a connection of its own; on the embedded engine
 * (one session, no COPY protocol to a client) its COPY … TO '/dev/blob', holding the engine's mutex
 * as the API's statements do.
 */
async function openBareCopy(bench: BenchDatabase): Promise<BareCopy> {
  const timed = async (
    each: (statement: string) => Promise<{ rows: number; bytes: number }>,
    statements: string[],
  ) => {
    const sampler = await RssSampler.start(50)
    let rows = 0
    let bytes = 0
    const t0 = performance.now()
    try {
      for (const statement of statements) {
        const r = await each(statement)
        rows += r.rows
        bytes += r.bytes
      }
    } catch (error) {
      await sampler.stop()
      throw error
    }
    const ms = performance.now() - t0
    return { rows, bytes, ms, rss: await sampler.stop() }
  }
  if (bench.mode === 'postgres') {
    if (!bench.url) throw new Error('the bench database has no URL for the COPY connection')
    const client = new pg.Client({ connectionString: bench.url, application_name: 'tracker-bench-copy' })
    await client.connect()
    return {
      label: "bare COPY (the export's statement, per tracker) TO STDOUT, pg-copy-streams",
      run: (statements) =>
        timed(async (statement) => {
          let rows = 0
          let bytes = 0
          for await (const chunk of client.query(
            copyTo(`COPY (${statement}) TO STDOUT`),
          ) as AsyncIterable<Buffer>) {
            rows += countLines(chunk)
            bytes += chunk.length
          }
          return { rows, bytes }
        }, statements),
      close: () => client.end(),
    }
  }
  const embedded = bench.database as EmbeddedDatabase
  return {
    label:
      "bare COPY (the export's statement, per tracker) TO '/dev/blob': the embedded engine's COPY, its output handed over whole",
    run: (statements) =>
      timed(async (statement) => {
        const result = await embedded.engineMutex.run(() =>
          embedded.engine.query(`COPY (${statement}) TO '/dev/blob'`),
        )
        if (!result.blob) throw new Error('the embedded engine returned no COPY output')
        const bytes = new Uint8Array(await result.blob.arrayBuffer())
        return { rows: countLines(bytes), bytes: bytes.length }
      }, statements),
    sink: {
      label: "the export's own copy device (copyText: a buffer COPY's writes are appended to)",
      run: (statements) =>
        timed(async (statement) => {
          let rows = 0
          let bytes = 0
          for (const text of await copyText(embedded, statement)) {
            for (let at = text.indexOf('\n'); at >= 0; at = text.indexOf('\n', at + 1)) rows++
            bytes += Buffer.byteLength(text)
          }
          return { rows, bytes }
        }, statements),
    },
    close: async () => {},
  }
}
