import { randomBytes } from 'node:crypto'
import { parseBridgeEnv, startBridge } from '@tracker/bridge'
import { parseTrackerChanged, recordTrackerSighting } from '@tracker/db'
import { hashedAdvKey } from '@tracker/db/testing'
import mqtt from 'mqtt'
import { withBenchDatabase } from '../bench-database.ts'
import type { BenchContext } from '../context.ts'
import type { FigureResult, FigureRow } from '../results.ts'
import type { ScaleSettings } from '../scales.ts'
import { ratio } from '../stats.ts'
import { bareListen, latencyStats, latencyText } from './notification-latency.ts'

const SAMPLE_TIMEOUT_MS = 10_000

interface Sample {
  trackerId: string
  notifyMs: number | null
  mqttMs: number | null
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
    const stopListen = await bareListen(database, bench.url, 'tracker-bench-listen', (payload) => {
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

    const notify = latencyStats(samples.map((s) => s.notifyMs))
    const message = latencyStats(samples.map((s) => s.mqttMs))
    const baselineLabel = 'the tracker_changed notification alone (a bare LISTEN), same samples'
    const row = (id: string, label: string, pick: 'p50Ms' | 'p95Ms'): FigureRow => ({
      id,
      label,
      measured: { value: message[pick], unit: 'ms', text: latencyText(message) },
      baseline: { label: baselineLabel, value: notify[pick], unit: 'ms', text: latencyText(notify) },
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
