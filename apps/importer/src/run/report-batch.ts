import { queueEvaluation, spansOf } from '@tracker/alerts'
import {
  type Database,
  type Kysely,
  type NewCoverageGap,
  type RejectedCounts,
  recordCoverageGaps,
  type SourceError,
} from '@tracker/db'
import type {
  BatchResult,
  DecryptedReport,
  DecryptReportsResult,
  EndpointReport,
  EndpointRequestCounts,
} from '@tracker/findmy'
import { decryptReports, peekPayload } from '@tracker/findmy'
import type { Geocoder } from '@tracker/geocoder'
import type { Logger } from 'pino'
import { answersByKey, coverageGap, type EndpointLimitTracker } from './coverage-gaps.ts'
import { type RunTotals, recordProgress } from './import-run.repository.ts'
import { type ValidationLimits, validateReport } from './report-validation.ts'
import { insertReports, knownReports, newestStoredByKey, type StorableReport } from './report-writer.ts'

/** Decrypts a batch; the worker-thread pool in production, decryptReports inline by default. */
export type Decrypt = (
  privateKeys: ReadonlyMap<string, Buffer>,
  reports: readonly EndpointReport[],
) => Promise<DecryptReportsResult>

export interface KeyInfo {
  trackerId: string
  privateKey: Buffer
}

/** A tracker's newest report, for its last-seen state. */
export type Sighting = DecryptedReport & { nearestCity: string | null }

/**
 * One endpoint batch, everything done but the insert: nothing of it is in the database or in the
 * run's totals yet. Dropping it (a stopping run) loses nothing: the next run fetches it again.
 */
export type PreparedBatch =
  | { ok: false; batch: Extract<BatchResult, { ok: false }> }
  | {
      ok: true
      index: number
      fetched: number
      /** Skipped before decryption: already stored. */
      known: number
      rejected: RejectedCounts
      storable: StorableReport[]
      newestByTracker: Map<string, Sighting>
      /** The batch's requests by outcome, its single-id requests included. */
      requests: EndpointRequestCounts
      /** Ids asked for again alone after an answer for the first id only, and what they brought. */
      retriedAlone: number
      recoveredReports: number
      /** Single-id requests that failed for good (counted with the batch as source errors). */
      aloneFailures: SourceError[]
      /** Periods the endpoint may have dropped reports of (recorded with the batch's first insert). */
      gaps: Omit<NewCoverageGap, 'import_run_id'>[]
      /** The most reports one key got in this answer. */
      maxPerKey: number
      /** Keys whose answer was as full as the endpoint gives (reports may be getting lost). */
      fullKeys: string[]
    }

export interface PrepareContext {
  db: Kysely<Database>
  keys: ReadonlyMap<string, KeyInfo>
  decrypt?: Decrypt | undefined
  geocoder: Geocoder | null
  /** Validation limits; `now` is read when the batch is validated. */
  limits: Omit<ValidationLimits, 'now'> & { now: () => Date }
  log: Logger
  /** A stopping run: work not started yet is not started (throws the signal's reason). */
  signal: AbortSignal
  /** Coverage gaps: the endpoint's per-key limit, and how far back its answers reach. */
  coverage: { limit: EndpointLimitTracker; since: () => Date }
}

const count = (counts: RejectedCounts, reason: string, n = 1) => {
  counts[reason] = (counts[reason] ?? 0) + n
}

/** Adds a batch's requests by outcome to a run's. */
export function countRequests(totals: RunTotals, requests: EndpointRequestCounts): void {
  for (const [outcome, n] of Object.entries(requests)) count(totals.endpointRequests, outcome, n)
}

/**
 * Known-report check, decryption, validation and geocoding of one batch. Only reads the database,
 * so it may run ahead while an earlier batch is inserted: endpoint batches hold disjoint keys, so
 * no earlier batch's insert can change which of this batch's reports are already stored (and if one
 * did, ON CONFLICT DO NOTHING would still store and count the report once; only its check is lost).
 */
export async function prepareBatch(ctx: PrepareContext, batch: BatchResult): Promise<PreparedBatch> {
  if (!batch.ok) return { ok: false, batch }
  ctx.signal.throwIfAborted()
  const rejected: RejectedCounts = {}
  // Every poll hands out the whole lookback again. A report whose (key, clear-text timestamp) is
  // already stored would be a duplicate anyway, so it is counted as one without paying for its
  // decryption (a P-224 ECDH, ~0.3 ms): steady-state runs decrypt only what is new.
  const peeked = batch.reports.map((report) => ({ report, peek: peekPayload(report.payload) }))
  const candidates = peeked.flatMap(({ report, peek }) => {
    const info = ctx.keys.get(report.id)
    return info && peek
      ? [{ trackerId: info.trackerId, hashedAdvKey: report.id, timestamp: peek.timestamp }]
      : []
  })
  const stored = await knownReports(ctx.db, candidates)
  const { gaps, maxPerKey, fullKeys } = await findCoverageGaps(ctx, candidates)
  let known = 0
  const fresh: EndpointReport[] = []
  for (const { report, peek } of peeked) {
    if (peek && stored.has(`${report.id}|${peek.timestamp.getTime()}`)) known++
    else fresh.push(report)
  }
  const batchKeys = new Map<string, Buffer>()
  for (const id of batch.ids) {
    const info = ctx.keys.get(id)
    if (info) batchKeys.set(id, info.privateKey)
  }
  // The stop may have come while the check ran: do not queue decryption nobody will use.
  ctx.signal.throwIfAborted()
  const decrypt: Decrypt = ctx.decrypt ?? (async (k, r) => decryptReports(k, r))
  const decrypted = await decrypt(batchKeys, fresh)
  for (const rejection of decrypted.rejected) count(rejected, rejection.reason)
  if (decrypted.rejected.length > 0)
    ctx.log.debug(
      { rejected: decrypted.rejected.slice(0, 5).map((r) => ({ reason: r.reason, message: r.message })) },
      'reports rejected',
    )

  const at = new Date().toISOString()
  const aloneFailures = batch.aloneFailures.map(
    ({ id, error }): SourceError => ({
      source: `batch ${batch.index + 1}: key ${id} asked alone`,
      message: error.message,
      ...(error.status !== undefined ? { status: error.status } : {}),
      at,
    }),
  )
  const limits = { ...ctx.limits, now: ctx.limits.now() }
  const valid: DecryptedReport[] = []
  for (const report of decrypted.reports) {
    const rejection = validateReport(report, limits)
    if (rejection) count(rejected, rejection)
    else valid.push(report)
  }

  const places = ctx.geocoder ? await ctx.geocoder.lookupMany(valid) : valid.map(() => null)
  const newestByTracker = new Map<string, Sighting>()
  const storable = valid.map((report, i): StorableReport => {
    const trackerId = ctx.keys.get(report.hashedAdvKey)!.trackerId
    const nearestCity = places[i]?.label ?? null
    const newest = newestByTracker.get(trackerId)
    if (!newest || newest.timestamp < report.timestamp)
      newestByTracker.set(trackerId, { ...report, nearestCity })
    return {
      hashedAdvKey: report.hashedAdvKey,
      trackerId,
      timestamp: report.timestamp,
      latitude: report.latitude,
      longitude: report.longitude,
      horizontalAccuracy: report.horizontalAccuracy,
      confidence: report.confidence,
      status: report.status,
      nearestCity,
      publishedAt: report.publishedAt,
    }
  })
  return {
    ok: true,
    index: batch.index,
    fetched: batch.reports.length,
    known,
    rejected,
    storable,
    newestByTracker,
    requests: batch.requests,
    retriedAlone: batch.retriedAlone.length,
    recoveredReports: batch.recoveredReports,
    aloneFailures,
    gaps,
    maxPerKey,
    fullKeys,
  }
}

/**
 * Per key of the answer: was it as full as the endpoint gives, with its oldest report newer than the
 * newest stored? Then reports between the two may have been dropped before any poll saw them.
 */
async function findCoverageGaps(
  ctx: PrepareContext,
  candidates: ReadonlyArray<{ trackerId: string; hashedAdvKey: string; timestamp: Date }>,
): Promise<{ gaps: Omit<NewCoverageGap, 'import_run_id'>[]; maxPerKey: number; fullKeys: string[] }> {
  const answers = answersByKey(candidates)
  ctx.coverage.limit.observe(answers)
  const maxPerKey = Math.max(0, ...[...answers.values()].map((a) => a.count))
  const limit = ctx.coverage.limit.limit
  const full = limit < 2 ? [] : [...answers].filter(([, answer]) => answer.count >= limit)
  const fullKeys = full.map(([hashedAdvKey]) => hashedAdvKey)
  if (full.length === 0) return { gaps: [], maxPerKey, fullKeys }
  const keys = full.map(([hashedAdvKey]) => ({
    hashedAdvKey,
    trackerId: ctx.keys.get(hashedAdvKey)!.trackerId,
  }))
  const newest = await newestStoredByKey(
    ctx.db,
    keys.map((k) => k.hashedAdvKey),
    ctx.coverage.since(),
  )
  const gaps = keys.flatMap(({ hashedAdvKey, trackerId }) => {
    const gap = coverageGap(
      {
        hashedAdvKey,
        trackerId,
        newestStored: newest.get(hashedAdvKey) ?? null,
        answer: answers.get(hashedAdvKey)!,
      },
      limit,
    )
    return gap ? [gap] : []
  })
  return { gaps, maxPerKey, fullKeys }
}

/**
 * Inserts a prepared batch, `insertBatchSize` rows per statement, each in a transaction that also
 * writes the run's ledger row with what it stored: whenever the process dies, the ledger counts
 * exactly the rows committed. The batch's other counts (fetched, skipped as stored, rejected) go with
 * its first statement. `totals` moves only after each commit.
 */
export async function commitBatch(
  db: Kysely<Database>,
  runId: string,
  prepared: Extract<PreparedBatch, { ok: true }>,
  totals: RunTotals,
  newestByTracker: Map<string, Sighting>,
  insertBatchSize: number,
  log: Logger,
): Promise<void> {
  const counted = copyTotals(totals)
  counted.reportsFetched += prepared.fetched
  counted.reportsDuplicate += prepared.known
  counted.maxReportsPerKey = Math.max(counted.maxReportsPerKey, prepared.maxPerKey)
  for (const [reason, n] of Object.entries(prepared.rejected)) count(counted.rejected, reason, n)
  countRequests(counted, prepared.requests)
  counted.multiIdRetries += prepared.retriedAlone
  counted.multiIdRecoveredReports += prepared.recoveredReports
  counted.sourceErrors.push(...prepared.aloneFailures)
  // Nothing to insert: the counts alone, still in one write.
  const chunks: StorableReport[][] = prepared.storable.length === 0 ? [[]] : []
  for (let i = 0; i < prepared.storable.length; i += insertBatchSize)
    chunks.push(prepared.storable.slice(i, i + insertBatchSize))
  let next = counted
  let gaps = prepared.gaps.map((gap) => ({ ...gap, import_run_id: runId }))
  for (const chunk of chunks) {
    const inserted = await db.transaction().execute(async (trx) => {
      // The gaps go with the batch's first statement: recorded exactly when its reports are.
      if (gaps.length > 0) {
        next.coverageGaps += await recordCoverageGaps(trx, gaps)
        next.coverageGapMs += gaps.reduce((ms, g) => ms + (g.gap_to.getTime() - g.gap_from.getTime()), 0)
      }
      const n = await insertReports(trx, chunk)
      // Alerts decide from these reports later, but the work is queued now, with them: a crash
      // between the insert and the evaluation cannot lose it.
      if (n > 0) await queueEvaluation(trx, spansOf(chunk))
      next.reportsInserted += n
      next.reportsDuplicate += chunk.length - n
      if (n > 0) widenWindow(next, chunk)
      await recordProgress(trx, runId, next)
      return n
    })
    Object.assign(totals, next)
    next = copyTotals(totals)
    gaps = []
    if (chunk.length > 0)
      log.debug({ batch: prepared.index + 1, rows: chunk.length, inserted }, 'report batch inserted')
  }
  for (const [trackerId, sighting] of prepared.newestByTracker) {
    const newest = newestByTracker.get(trackerId)
    if (!newest || newest.timestamp < sighting.timestamp) newestByTracker.set(trackerId, sighting)
  }
}

function copyTotals(totals: RunTotals): RunTotals {
  return {
    ...totals,
    rejected: { ...totals.rejected },
    sourceErrors: [...totals.sourceErrors],
    endpointRequests: { ...totals.endpointRequests },
  }
}

function widenWindow(totals: RunTotals, reports: readonly StorableReport[]): void {
  for (const report of reports) {
    if (!totals.windowFrom || report.timestamp < totals.windowFrom) totals.windowFrom = report.timestamp
    if (!totals.windowTo || report.timestamp > totals.windowTo) totals.windowTo = report.timestamp
  }
}
