import { randomBytes } from 'node:crypto'
import { parseBridgeEnv, startBridge } from '@tracker/bridge'
import {
  parseTrackerChanged,
  recordTrackerSighting,
  TRACKER_CHANGED_CHANNEL,
  type TrackerDatabase,
} from '@tracker/db'
import { hashedAdvKey } from '@tracker/db/testing'
import mqtt from 'mqtt'
import pg from 'pg'
import { withBenchDatabase } from '../bench-database.ts'
import type { BenchContext } from '../context.ts'
import { duration } from '../format.ts'
import type { FigureResult, FigureRow } from '../results.ts'
import type { ScaleSettings } from '../scales.ts'
import { percentile, ratio, round } from '../stats.ts'

const SAMPLE_TIMEOUT_MS = 10_000

interface Sample {
  trackerId: string
  notifyMs: number | null
  mqttMs: number | null
}

interface LatencyStats {
  n: number
  p50Ms: number
  p95Ms: number
  timedOut: number
}

function stats(values: (number | null)[]): LatencyStats {
  const seen = values.filter((v): v is number => v !== null)
  return {
    n: seen.length,
    p50Ms: round(percentile(seen, 50), 2),
    p95Ms: round(percentile(seen, 95), 2),
    timedOut: values.length - seen.length,
  }
}

const text = (s: LatencyStats) =>
  `p50 ${duration(s.p50Ms)}, p95 ${duration(s.p95Ms)} (n=${s.n}${s.timedOut ? `, ${s.timedOut} timed out` : ''})`

/** A bare LISTEN on tracker_changed: a pg client of its own on a server, the engine's LISTEN embedded. */
async function bareListen(
  database: TrackerDatabase,
  url: string | undefined,
  onPayload: (payload: string) => void,
): Promise<() => Promise<void>> {
  if (url) {
    const client = new pg.Client({ connectionString: url, application_name: 'tracker-bench-listen' })
    await client.connect()
    client.on('notification', (n) => onPayload(n.payload ?? ''))
    await client.query(`LISTEN ${TRACKER_CHANGED_CHANNEL}`)
    return () => client.end()
  }
  const listener = await database.listen(TRACKER_CHANGED_CHANNEL, { onNotification: onPayload })
  return () => listener.close()
}

/**
 * Latency from a report's insert and its tracker's update (one transaction, as the importer writes a
 * batch) to the bridge's OwnTracks message for it at a subscriber on the broker (Mosquitto), beside
 * the notification alone (a bare LISTEN on tracker_changed) in the same samples. One change at a
 * time, each on the next tracker, so the times do not queue behind each other.
 */
export async function mqttFigure(ctx: BenchContext, settings: ScaleSettings['mqtt']): Promise<FigureResult> {
  const t0 = performance.now()
  const run = `bench-${process.pid}-${randomBytes(4).toString('hex')}`
  return withBenchDatabase(ctx.env, {}, async (bench) => {
    const { database } = bench
    const db = database.db
    const trackers: { id: string; key: string }[] = []
    for (let i = 0; i < settings.trackers; i++) {
      const tracker = await db
        .insertInto('trackers')
        .values({ name: `Bench tracker ${i + 1}` })
        .returning('id')
        .executeTakeFirstOrThrow()
      const key = hashedAdvKey(`${run}-${i}`)
      await db
        .insertInto('tracker_keys')
        .values({ tracker_id: tracker.id, hashed_adv_key: key, private_key_encrypted: Buffer.from('bench') })
        .execute()
      trackers.push({ id: tracker.id, key })
    }

    const waiting = new Map<
      string,
      { tst: number; notify?: (at: number) => void; mqtt?: (at: number) => void }
    >()
    const stopListen = await bareListen(database, bench.url, (payload) => {
      const at = performance.now()
      const change = parseTrackerChanged(payload)
      if (change && 'trackers' in change) for (const id of change.trackers) waiting.get(id)?.notify?.(at)
    })
    const config = parseBridgeEnv({
      BRIDGE_MQTT_URL: ctx.env.mqttUrl,
      BRIDGE_CLIENT_ID: run,
      BRIDGE_TOPIC_PREFIX: `${run}/bridge`,
      BRIDGE_HOMEASSISTANT_PREFIX: `${run}/ha`,
      BRIDGE_OWNTRACKS_PREFIX: `${run}/ot`,
      BRIDGE_HTTP_PORT: '0',
      BRIDGE_HTTP_HOST: '127.0.0.1',
    })
    const bridge = await startBridge({ database, logger: ctx.logger, config })
    const subscriber = await mqtt.connectAsync(ctx.env.mqttUrl, {
      clientId: `${run}-sub`,
      reconnectPeriod: 0,
    })
    const samples: Sample[] = []
    try {
      const ready = performance.now()
      while (bridge.health().status !== 'ok') {
        if (performance.now() - ready > 30_000) {
          throw new Error(
            `the bridge did not connect to ${ctx.env.mqttUrl}: ${JSON.stringify(bridge.health())}`,
          )
        }
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
      await bridge.idle()
      const prefix = `${run}/ot/${config.ownTracks.user}/`
      subscriber.on('message', (topic, payload) => {
        const at = performance.now()
        const id = topic.slice(prefix.length)
        if (!topic.startsWith(prefix) || id.includes('/')) return
        const tst = (JSON.parse(payload.toString() || '{}') as { tst?: number }).tst
        const entry = waiting.get(id)
        // Only the message of this sample's report (not a republish of an earlier one).
        if (entry && tst === entry.tst) entry.mqtt?.(at)
      })
      await subscriber.subscribeAsync(`${run}/ot/+/+`, { qos: 1 })

      let seenAt = Date.now() - settings.samples * 1000
      for (let i = 0; i < settings.samples; i++) {
        const tracker = trackers[i % trackers.length]!
        seenAt += 1000
        const at = new Date(Math.floor(seenAt / 1000) * 1000)
        const sample: Sample = { trackerId: tracker.id, notifyMs: null, mqttMs: null }
        let start = 0
        const both = new Promise<void>((resolve) => {
          const entry: { tst: number; notify?: (at: number) => void; mqtt?: (at: number) => void } = {
            tst: at.getTime() / 1000,
          }
          const done = () => sample.notifyMs !== null && sample.mqttMs !== null && resolve()
          entry.notify = (t) => {
            sample.notifyMs ??= t - start
            done()
          }
          entry.mqtt = (t) => {
            sample.mqttMs ??= t - start
            done()
          }
          waiting.set(tracker.id, entry)
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
        await both
        waiting.delete(tracker.id)
        samples.push(sample)
      }
    } finally {
      await subscriber.endAsync(true).catch(() => {})
      await bridge.stop().catch(() => {})
      await stopListen().catch(() => {})
      await clearRun(ctx.env.mqttUrl, run).catch(() => {})
    }

    const notify = stats(samples.map((s) => s.notifyMs))
    const message = stats(samples.map((s) => s.mqttMs))
    const baselineLabel = 'the tracker_changed notification alone (a bare LISTEN), same samples'
    const row = (id: string, label: string, pick: 'p50Ms' | 'p95Ms'): FigureRow => ({
      id,
      label,
      measured: { value: message[pick], unit: 'ms', text: text(message) },
      baseline: { label: baselineLabel, value: notify[pick], unit: 'ms', text: text(notify) },
      ratio: ratio(message[pick], notify[pick]),
      target: null,
      verdict: 'info',
    })
    return {
      name: 'mqtt',
      title: 'MQTT bridge',
      status: 'measured',
      durationS: (performance.now() - t0) / 1000,
      rows: [
        row(
          'mqtt.latency.p50',
          `report insert + tracker update -> OwnTracks message at an MQTT subscriber, p50 (${settings.trackers} trackers, Mosquitto)`,
          'p50Ms',
        ),
        row(
          'mqtt.latency.p95',
          'report insert + tracker update -> OwnTracks message at an MQTT subscriber, p95',
          'p95Ms',
        ),
      ],
      raw: { mqtt: message, notify, broker: ctx.env.mqttUrl, samples },
      notes: [
        `One change at a time (insert + recordTrackerSighting in one transaction), ${settings.samples} samples over ${settings.trackers} trackers; the bridge re-reads the tracker, then publishes QoS 1 to ${ctx.env.mqttUrl}.`,
      ],
    }
  })
}

/** Removes every retained message the run left on the broker. */
async function clearRun(url: string, run: string): Promise<void> {
  const client = await mqtt.connectAsync(url, { clientId: `${run}-clear`, reconnectPeriod: 0 })
  try {
    const topics = new Set<string>()
    const marker = `${run}/marker`
    const done = new Promise<void>((resolve) => {
      client.on('message', (topic, _payload, packet) => {
        if (topic === marker) resolve()
        else if (packet.retain) topics.add(topic)
      })
    })
    await client.subscribeAsync([`${run}/#`], { qos: 1 })
    await client.publishAsync(marker, 'x', { qos: 1 })
    await Promise.race([done, new Promise((resolve) => setTimeout(resolve, 5000))])
    for (const topic of topics) await client.publishAsync(topic, '', { qos: 1, retain: true })
  } finally {
    await client.endAsync(true)
  }
}
