import { randomBytes } from 'node:crypto'
import { createApiToken, parseApiEnv, startApi } from '@tracker/api'
import { KeyOpener, parseTrackerChanged, recordTrackerSighting } from '@tracker/db'
import { hashedAdvKey } from '@tracker/db/testing'
import { InProcessLockService } from '@tracker/locks'
import { type Client, createClient } from 'graphql-ws'
import WebSocket from 'ws'
import { withBenchDatabase } from '../bench-database.ts'
import type { BenchContext } from '../context.ts'
import type { FigureResult, FigureRow } from '../results.ts'
import type { ScaleSettings } from '../scales.ts'
import { ratio } from '../stats.ts'
import { bareListen, type LatencyStats, latencyStats, latencyText } from './notification-latency.ts'

const SAMPLE_TIMEOUT_MS = 10_000

interface Sample {
  trackerId: string
  /** The bare LISTEN's notification. */
  notifyMs: number | null
  /** The measuring subscriber's trackerUpdated event. */
  eventMs: number | null
  /** The last of all subscribers' events (the whole fan-out). */
  allMs: number | null
}

/**
 * Rows other live channels may add to this figure: the MQTT bridge's latency is its own figure
 * (`mqtt`) today; a row for it here would come from this function, timed on the same samples.
 */
export function liveMqttRows(): FigureRow[] {
  return []
}

const SUBSCRIPTION = 'subscription { trackerUpdated { id lastSeenAt lastLocation { latitude longitude } } }'

/**
 * Latency from a report's insert and its tracker's update (one transaction, as the importer writes
 * a batch) to the GraphQL subscription's trackerUpdated event, with `subscribers` graphql-ws clients
 * connected to the real API over WebSocket (each its own socket, all subscribed to every tracker),
 * beside the notification alone (a bare LISTEN on tracker_changed) in the same samples. One change
 * at a time, each on the next tracker. The clients run in this process, as the API does.
 */
export async function liveFigure(ctx: BenchContext, settings: ScaleSettings['live']): Promise<FigureResult> {
  const t0 = performance.now()
  const run = `bench-live-${process.pid}-${randomBytes(4).toString('hex')}`
  return withBenchDatabase(ctx.env, {}, async (bench) => {
    const { database } = bench
    const db = database.db
    const trackers: { id: string; key: string }[] = []
    for (let i = 0; i < settings.trackers; i++) {
      const tracker = await db
        .insertInto('trackers')
        .values({ name: `Live tracker ${i + 1}` })
        .returning('id')
        .executeTakeFirstOrThrow()
      const key = hashedAdvKey(`${run}-${i}`)
      await db
        .insertInto('tracker_keys')
        .values({ tracker_id: tracker.id, hashed_adv_key: key, private_key_encrypted: Buffer.from('bench') })
        .execute()
      trackers.push({ id: tracker.id, key })
    }
    const token = (await createApiToken(db, { name: 'bench live', scope: 'read' })).token
    const api = await startApi({
      database,
      locks: new InProcessLockService(),
      logger: ctx.logger.child({ app: 'api' }),
      config: parseApiEnv({
        KEY_SEALING_PUBLIC_KEY: KeyOpener.generate().publicKey,
        API_HOST: '127.0.0.1',
        API_PORT: '0',
        API_RATE_LIMIT_MAX: '1000000000',
        API_RATE_LIMIT_UNAUTHENTICATED: '1000000000',
        API_REQUEST_LOGGING: 'false',
        API_SUBSCRIPTION_MAX_CONNECTIONS_PER_TOKEN: String(settings.subscribers + 10),
        API_SUBSCRIPTION_MAX_PER_TOKEN: String(settings.subscribers + 10),
        LOG_LEVEL: ctx.env.logLevel,
      }),
    })
    const url = `${api.address.replace(/^http/, 'ws')}/graphql`

    // Per sample: when each subscriber saw its tracker at the sample's lastSeenAt.
    const waiting = new Map<
      string,
      { lastSeenAt: string; notify?: (at: number) => void; event?: (client: number, at: number) => void }
    >()
    const stopListen = await bareListen(database, bench.url, 'tracker-bench-live-listen', (payload) => {
      const at = performance.now()
      const change = parseTrackerChanged(payload)
      if (change && 'trackers' in change) for (const id of change.trackers) waiting.get(id)?.notify?.(at)
    })
    const clients: Client[] = []
    const disposers: (() => void)[] = []
    const samples: Sample[] = []
    try {
      ctx.progress(`live: connecting ${settings.subscribers} subscribers over WebSocket`)
      for (let c = 0; c < settings.subscribers; c++) {
        const client = createClient({
          url,
          webSocketImpl: WebSocket,
          lazy: false,
          retryAttempts: 0,
          connectionParams: { authorization: `Bearer ${token}` },
          onNonLazyError: () => {},
        })
        clients.push(client)
        disposers.push(
          client.subscribe<{
            trackerUpdated: { id: string; lastSeenAt: string | null }
          }>(
            { query: SUBSCRIPTION },
            {
              next: (value) => {
                const at = performance.now()
                const tracker = value.data?.trackerUpdated
                const entry = tracker && waiting.get(tracker.id)
                if (entry && tracker.lastSeenAt === entry.lastSeenAt) entry.event?.(c, at)
              },
              error: () => {},
              complete: () => {},
            },
          ),
        )
      }
      const since = performance.now()
      while (api.app.live.updates.subscriptionCount.trackerUpdated < settings.subscribers) {
        if (performance.now() - since > 60_000) {
          throw new Error(
            `only ${api.app.live.updates.subscriptionCount.trackerUpdated} of ${settings.subscribers} subscribers subscribed within 60 s`,
          )
        }
        await new Promise((resolve) => setTimeout(resolve, 20))
      }

      let seenAt = Date.now() - settings.samples * 1000
      for (let i = 0; i < settings.samples; i++) {
        const tracker = trackers[i % trackers.length]!
        seenAt += 1000
        const at = new Date(Math.floor(seenAt / 1000) * 1000)
        const sample: Sample = { trackerId: tracker.id, notifyMs: null, eventMs: null, allMs: null }
        let start = 0
        const seen = new Set<number>()
        const done = new Promise<void>((resolve) => {
          const check = () => sample.notifyMs !== null && sample.allMs !== null && resolve()
          waiting.set(tracker.id, {
            lastSeenAt: at.toISOString(),
            notify: (t) => {
              sample.notifyMs ??= t - start
              check()
            },
            event: (client, t) => {
              if (client === 0) sample.eventMs ??= t - start
              seen.add(client)
              if (seen.size === settings.subscribers) sample.allMs ??= t - start
              check()
            },
          })
          setTimeout(resolve, SAMPLE_TIMEOUT_MS).unref()
        })
        start = performance.now()
        await db.transaction().execute(async (trx) => {
          await trx
            .insertInto('location_reports')
            .values({
              hashed_adv_key: tracker.key,
              timestamp: at,
              latitude: 48 + i / 1000,
              longitude: 11 + i / 1000,
              horizontal_accuracy: 20,
              confidence: 2,
              status: 0,
              nearest_city: null,
            })
            .execute()
          await recordTrackerSighting(trx, {
            trackerId: tracker.id,
            seenAt: at,
            latitude: 48 + i / 1000,
            longitude: 11 + i / 1000,
            nearestCity: null,
            batteryLevel: null,
          })
        })
        await done
        waiting.delete(tracker.id)
        samples.push(sample)
      }
    } finally {
      for (const dispose of disposers) dispose()
      await Promise.all(clients.map((client) => client.dispose()))
      await api.stop().catch(() => {})
      await stopListen().catch(() => {})
    }

    const notify = latencyStats(samples.map((s) => s.notifyMs))
    const event = latencyStats(samples.map((s) => s.eventMs))
    const all = latencyStats(samples.map((s) => s.allMs))
    const baselineLabel = 'the tracker_changed notification alone (a bare LISTEN), same samples'
    const row = (id: string, label: string, of: LatencyStats, pick: 'p50Ms' | 'p95Ms'): FigureRow => ({
      id,
      label,
      measured: { value: of[pick], unit: 'ms', text: latencyText(of) },
      baseline: { label: baselineLabel, value: notify[pick], unit: 'ms', text: latencyText(notify) },
      ratio: ratio(of[pick], notify[pick]),
      target: null,
      verdict: 'info',
    })
    const who = `${settings.subscribers} subscribers connected, ${settings.trackers} trackers`
    return {
      name: 'live',
      title: 'Live updates (GraphQL subscriptions)',
      status: 'measured',
      durationS: (performance.now() - t0) / 1000,
      rows: [
        row(
          'live.latency.p50',
          `report insert + tracker update -> trackerUpdated at a subscriber, p50 (${who})`,
          event,
          'p50Ms',
        ),
        row(
          'live.latency.p95',
          'report insert + tracker update -> trackerUpdated at a subscriber, p95',
          event,
          'p95Ms',
        ),
        row(
          'live.fanout.p50',
          `... -> trackerUpdated at all ${settings.subscribers} subscribers, p50`,
          all,
          'p50Ms',
        ),
        row(
          'live.fanout.p95',
          `... -> trackerUpdated at all ${settings.subscribers} subscribers, p95`,
          all,
          'p95Ms',
        ),
        ...liveMqttRows(),
      ],
      raw: { event, all, notify, subscribers: settings.subscribers, samples },
      notes: [
        `One change at a time (insert + recordTrackerSighting in one transaction), ${settings.samples} samples over ${settings.trackers} trackers; every subscriber has its own WebSocket (graphql-ws over ws, in this process) subscribed to trackerUpdated for every tracker; the API (one LISTEN per channel) reads the tracker once per notification and fans it out.`,
      ],
    }
  })
}
