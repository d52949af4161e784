import { type BucketSize, findTrackersByIds, parseDuration, type TrackerDatabase } from '@tracker/db'
import { EXPORT_FORMATS, type ExportFormat, type ExportPoint, type ExtraField } from '@tracker/export'
import { type HistoryRow, historyQuery, hourlyTierStart } from '@tracker/history'
import { describeDuration } from '../env.ts'
import { ApiError, NotFoundApiError } from '../errors.ts'
import type { AuthenticatedToken } from '../graphql/context.ts'
import { ExportCursorReader } from '../repositories/export-cursor.repository.ts'
import { reportExportQuery } from '../repositories/location-report.repository.ts'
import { visibleTrackers } from './access.ts'
import { BUCKET_SIZES } from './history.service.ts'
import { isStorableInstant } from './input.ts'

/** A bad query parameter: 400 with the parameter's name. */
export class ExportParameterError extends ApiError {
  constructor(parameter: string, message: string, code = 'BAD_REQUEST') {
    super(code, message, { statusCode: 400, extensions: { parameter } })
  }
}

export type ExportKind = 'history' | 'reports'

export interface ExportRequest {
  kind: ExportKind
  format: ExportFormat
  trackers: { id: string; name: string }[]
  from: Date
  to: Date
  bucketSize: BucketSize | undefined
  segmentGapMs: number
}

/** Rows per FETCH: a page is all the export holds of the database's answer at a time. */
export const EXPORT_FETCH_ROWS = 1000
/** What orders a tracker's raw reports and tells them apart (the export's ORDER BY; the primary key). */
const REPORT_KEY = ['timestamp', 'hashed_adv_key'] as const
/** Trackers in one export at most. */
export const EXPORT_MAX_TRACKERS = 100

const HISTORY_FIELDS: ExtraField[] = [
  { name: 'bucketSize', column: 'bucket_size' },
  { name: 'reportCount', column: 'report_count' },
  { name: 'bestAccuracy', column: 'best_accuracy_m' },
  { name: 'firstReportAt', column: 'first_report_at' },
  { name: 'lastReportAt', column: 'last_report_at' },
]
const REPORT_FIELDS: ExtraField[] = [
  { name: 'hashedAdvKey', column: 'hashed_adv_key' },
  { name: 'confidence', column: 'confidence' },
  { name: 'status', column: 'status' },
  { name: 'publishedAt', column: 'published_at' },
]

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
// A date (UTC midnight) or a date-time with a zone (Z or ±hh:mm): what ISO 8601 / RFC 3339 clients send.
const INSTANT = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2}))?$/i

type QueryValue = string | string[] | undefined

function single(query: Record<string, QueryValue>, name: string): string | undefined {
  const value = query[name]
  if (Array.isArray(value)) {
    if (value.length > 1) throw new ExportParameterError(name, `${name} may be given once`)
    return value[0]
  }
  return value
}

function instant(query: Record<string, QueryValue>, name: string, fallback?: Date): Date {
  const text = single(query, name)
  if (text === undefined || text === '') {
    if (fallback) return fallback
    throw new ExportParameterError(
      name,
      `${name} is required: an ISO 8601 date or date-time, e.g. 2026-03-01T00:00:00Z`,
    )
  }
  const ms = INSTANT.test(text) ? Date.parse(text) : Number.NaN
  // Date.parse rolls 2026-02-30 over to March: the date part must survive the round trip.
  const calendar = text.length === 10 ? new Date(ms).toISOString().slice(0, 10) === text : true
  if (!isStorableInstant(ms) || !calendar) {
    throw new ExportParameterError(
      name,
      `${name} must be an ISO 8601 date or date-time with a time zone, e.g. 2026-03-01T00:00:00Z (got ${JSON.stringify(text.slice(0, 40))})`,
    )
  }
  return new Date(ms)
}

export interface ExportLimits {
  maxRangeHourlyMs: number
  maxRangeDailyMs: number
  rawRetentionMs: number
}

export function createExportService(database: TrackerDatabase, limits: ExportLimits) {
  const db = database.db
  return {
    /**
     * The request as validated: format, trackers (each one the token may see; any other, existing
     * or not, is 404 alike), range within the API's bounds. Throws ExportParameterError (400),
     * NotFoundApiError (404).
     */
    async prepare(
      kind: ExportKind,
      format: string,
      query: Record<string, QueryValue>,
      token: AuthenticatedToken | undefined,
      now: Date,
    ): Promise<ExportRequest> {
      if (!Object.hasOwn(EXPORT_FORMATS, format)) {
        throw new ExportParameterError(
          'format',
          `unknown export format ".${format.slice(0, 20)}": one of ${Object.keys(EXPORT_FORMATS)
            .map((f) => `.${f}`)
            .join(', ')}`,
          'UNKNOWN_FORMAT',
        )
      }
      const raw = query.trackerId
      const ids = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw]
      if (ids.length === 0 || ids.some((id) => id === '')) {
        throw new ExportParameterError('trackerId', 'trackerId is required (repeat it for several trackers)')
      }
      if (ids.length > EXPORT_MAX_TRACKERS) {
        throw new ExportParameterError('trackerId', `at most ${EXPORT_MAX_TRACKERS} trackerId in one export`)
      }
      const unique = [...new Set(ids.map((id) => id.toLowerCase()))]

      let bucketSize: BucketSize | undefined
      if (kind === 'history') {
        const size = single(query, 'bucketSize') ?? '1 day'
        if (!(BUCKET_SIZES as readonly string[]).includes(size)) {
          throw new ExportParameterError(
            'bucketSize',
            `bucketSize must be one of ${BUCKET_SIZES.map((b) => `"${b}"`).join(', ')} (got ${JSON.stringify(size.slice(0, 40))})`,
          )
        }
        bucketSize = size as BucketSize
      }
      const horizon = new Date(now.getTime() - limits.rawRetentionMs)
      const from = kind === 'history' ? instant(query, 'from') : instant(query, 'from', horizon)
      const to = kind === 'history' ? instant(query, 'to') : instant(query, 'to', now)
      if (from.getTime() > to.getTime()) {
        throw new ExportParameterError(
          'from',
          `from (${from.toISOString()}) must not be after to (${to.toISOString()})`,
        )
      }
      const maxRange = bucketSize === '1 day' ? limits.maxRangeDailyMs : limits.maxRangeHourlyMs
      if (to.getTime() - from.getTime() > maxRange) {
        const what = kind === 'reports' ? 'a report export' : `a "${bucketSize}" history export`
        throw new ExportParameterError(
          'to',
          `${what} may span at most ${describeDuration(maxRange)}: ask for a shorter range`,
          'RANGE_TOO_LONG',
        )
      }
      const gapText = single(query, 'segmentGap')
      let segmentGapMs = Math.max(6 * 3_600_000, bucketSize === '1 day' ? 2 * 86_400_000 : 0)
      if (gapText !== undefined) {
        try {
          segmentGapMs = parseDuration(gapText)
        } catch {
          throw new ExportParameterError(
            'segmentGap',
            `segmentGap must be a duration such as "6 hours" (got ${JSON.stringify(gapText.slice(0, 40))})`,
          )
        }
      }

      // A limited token learns nothing of other trackers: they are as unknown as ids that name none.
      const allowed = visibleTrackers(token)
      const notFound = unique.find((id) => !UUID.test(id) || (allowed && !allowed.includes(id)))
      if (notFound) throw new NotFoundApiError('tracker', notFound)
      const found = await findTrackersByIds(db, unique)
      const missing = unique.findIndex((_, i) => !found[i])
      if (missing >= 0) throw new NotFoundApiError('tracker', unique[missing]!)
      return {
        kind,
        format: format as ExportFormat,
        trackers: found.map((t) => ({ id: t!.id, name: t!.name })),
        from,
        to,
        bucketSize,
        segmentGapMs,
      }
    },

    /**
     * The export document, in strings of about CHUNK_CHARS as the cursors hand out rows. History points
     * are exactly what locationHistoryAggregated returns for each tracker and range (the same
     * statement, followed page after page), raw reports oldest first.
     */
    async *write(request: ExportRequest, signal: AbortSignal, now = new Date()): AsyncGenerator<string> {
      const reader = await ExportCursorReader.open(database, signal)
      try {
        const tierStart = hourlyTierStart(now)
        const pages = async function* (): AsyncGenerator<ExportPoint[]> {
          for (const tracker of request.trackers) {
            if (request.kind === 'history') {
              const query = historyQuery({
                trackerId: tracker.id,
                from: request.from,
                to: request.to,
                bucketSize: request.bucketSize!,
                tierStart,
              }).compile(db)
              for await (const rows of reader.pages<HistoryRow>(
                { compile: () => query },
                EXPORT_FETCH_ROWS,
              )) {
                yield rows.map((row) => historyPoint(tracker.id, row))
              }
            } else {
              const query = reportExportQuery(db, {
                trackerId: tracker.id,
                from: request.from,
                to: request.to,
              })
              for await (const rows of reader.pages(query, EXPORT_FETCH_ROWS, { key: REPORT_KEY })) {
                yield rows.map(
                  (row): ExportPoint => ({
                    trackerId: tracker.id,
                    time: row.timestamp,
                    latitude: row.latitude,
                    longitude: row.longitude,
                    accuracy: row.horizontal_accuracy,
                    city: row.nearest_city,
                    extra: [row.hashed_adv_key, row.confidence, row.status, row.published_at],
                  }),
                )
              }
            }
          }
        }
        yield* EXPORT_FORMATS[request.format].write(pages(), {
          trackers: request.trackers,
          fields: request.kind === 'history' ? HISTORY_FIELDS : REPORT_FIELDS,
          title: `${request.kind === 'history' ? 'Location history' : 'Location reports'} of ${request.trackers
            .map((t) => t.name)
            .join(', ')}, ${request.from.toISOString()} to ${request.to.toISOString()}`,
          segmentGapMs: request.segmentGapMs,
          createdAt: now,
        })
      } finally {
        await reader.close()
      }
    },
  }
}

function historyPoint(trackerId: string, row: HistoryRow): ExportPoint {
  return {
    trackerId,
    time: row.timestamp,
    latitude: row.latitude,
    longitude: row.longitude,
    accuracy: row.horizontal_accuracy,
    city: row.nearest_city,
    extra: [row.bucket_size, row.report_count, row.best_accuracy, row.first_report_at, row.last_report_at],
  }
}

export type ExportService = ReturnType<typeof createExportService>
