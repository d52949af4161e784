import { randomBytes } from 'node:crypto'
import { type BatteryLevel, type EmbeddedDatabase, recordTrackerSighting, sql } from '@tracker/db'
import { createTestDatabase, insertTracker, reportRow, type TestDatabase, testEnv } from '@tracker/db/testing'
import pino from 'pino'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { type BridgeConfig, parseBridgeEnv, type RunningBridge, startBridge } from '../src/index.ts'
import { clearRetained, MqttProbe, retainedMessages, TEST_MQTT_URL } from './helpers/mqtt-probe.ts'

// A prefix of its own per run, so parallel runs (and other test files) on the one broker never meet.
const RUN = `trk-test-${process.pid}-${randomBytes(4).toString('hex')}`
const PREFIX = `${RUN}/bridge`
const HA = `${RUN}/ha`
const OT = `${RUN}/ot`
const FILTERS = [`${RUN}/#`]
const MARKER = `${RUN}/marker`

function config(overrides: Record<string, string> = {}): BridgeConfig {
  return parseBridgeEnv({
    BRIDGE_MQTT_URL: TEST_MQTT_URL,
    BRIDGE_CLIENT_ID: `${RUN.replace(/\//g, '-')}-${randomBytes(3).toString('hex')}`,
    BRIDGE_TOPIC_PREFIX: PREFIX,
    BRIDGE_HOMEASSISTANT_PREFIX: HA,
    BRIDGE_OWNTRACKS_PREFIX: OT,
    BRIDGE_OWNTRACKS_USER: 'family',
    BRIDGE_HTTP_PORT: '0',
    BRIDGE_HTTP_HOST: '127.0.0.1',
    ...overrides,
  })
}

const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' })
const NODE = PREFIX.replace(/[^a-zA-Z0-9_-]/g, '_')
const topics = {
  status: `${PREFIX}/status`,
  config: (id: string) => `${HA}/device_tracker/${NODE}/${id}/config`,
  attributes: (id: string) => `${PREFIX}/${id}/attributes`,
  location: (id: string) => `${OT}/family/${id}`,
  card: (id: string) => `${OT}/family/${id}/info`,
  published: (id: string) => `${PREFIX}/${id}/published`,
}

let database: TestDatabase
let probe: MqttProbe
const running: RunningBridge[] = []

async function start(overrides: Record<string, string> = {}): Promise<RunningBridge> {
  const bridge = await startBridge({ database, logger, config: config(overrides) })
  running.push(bridge)
  await expect.poll(() => bridge.health().status).toBe('ok')
  await bridge.idle()
  return bridge
}

async function stop(bridge: RunningBridge): Promise<void> {
  running.splice(running.indexOf(bridge), 1)
  await bridge.stop()
}

/** A report stored and the tracker's last-seen state moved, as the importer does. */
async function report(
  tracker: { id: string; hashedAdvKeys: string[] },
  at: Date,
  position: {
    lat: number
    lon: number
    accuracy?: number
    battery?: BatteryLevel | null
    city?: string | null
  },
): Promise<void> {
  await database.db
    .insertInto('location_reports')
    .values(
      reportRow(tracker.hashedAdvKeys[0]!, at, {
        latitude: position.lat,
        longitude: position.lon,
        horizontal_accuracy: position.accuracy ?? 10,
        nearest_city: position.city ?? null,
      }),
    )
    .execute()
  await recordTrackerSighting(database.db, {
    trackerId: tracker.id,
    seenAt: at,
    latitude: position.lat,
    longitude: position.lon,
    nearestCity: position.city ?? null,
    batteryLevel: position.battery ?? null,
  })
}

const minutesAgo = (n: number) => new Date(Math.floor(Date.now() / 1000) * 1000 - n * 60_000)

beforeAll(async () => {
  database = await createTestDatabase()
  probe = await MqttProbe.connect(FILTERS)
})

afterEach(async () => {
  for (const bridge of running.splice(0)) await bridge.stop()
})

afterAll(async () => {
  await probe?.close()
  // Leave nothing retained on the shared broker.
  const left = await retainedMessages(FILTERS, MARKER)
  await clearRetained(left.keys())
  await database?.close()
})

describe('the MQTT bridge against Mosquitto', () => {
  it('publishes Home Assistant discovery and attributes, and OwnTracks location and card, exactly as documented', async () => {
    const bridge = await start()
    const tracker = await insertTracker(database.db, { name: 'Blue Backpack' })
    const seen = minutesAgo(5)
    await report(tracker, seen, {
      lat: 48.8566,
      lon: 2.3522,
      accuracy: 13,
      battery: 'medium',
      city: 'Paris, FR',
    })

    await expect.poll(() => probe.last(topics.location(tracker.id))).toBeTruthy()
    await expect.poll(() => probe.last(topics.attributes(tracker.id))).toBeTruthy()
    expect(probe.last(topics.config(tracker.id))).toEqual({
      name: null,
      unique_id: `tracker_${tracker.id}`,
      device: {
        identifiers: [`tracker_${tracker.id}`],
        name: 'Blue Backpack',
        model: 'Find My tracker (OpenHaystack)',
        manufacturer: 'OpenHaystack',
      },
      availability_topic: topics.status,
      payload_available: 'online',
      payload_not_available: 'offline',
      json_attributes_topic: topics.attributes(tracker.id),
      source_type: 'gps',
      icon: 'mdi:map-marker-radius',
      qos: 1,
      origin: { name: 'Tracker MQTT bridge', sw_version: '0.1.0' },
    })
    // The keys Home Assistant reads for a GPS device tracker's location, and the extra attributes.
    expect(probe.last(topics.attributes(tracker.id))).toEqual({
      latitude: 48.8566,
      longitude: 2.3522,
      gps_accuracy: 13,
      battery_level: 50,
      last_seen: seen.toISOString(),
      nearest_city: 'Paris, FR',
    })
    // OwnTracks' location object: _type, lat/lon (float degrees), tst (epoch seconds), acc (integer
    // metres), batt (integer percent), tid.
    expect(probe.last(topics.location(tracker.id))).toEqual({
      _type: 'location',
      tid: 'BB',
      lat: 48.8566,
      lon: 2.3522,
      tst: seen.getTime() / 1000,
      acc: 13,
      batt: 50,
    })
    expect(probe.last(topics.card(tracker.id))).toEqual({ _type: 'card', name: 'Blue Backpack' })
    for (const topic of [
      topics.config(tracker.id),
      topics.attributes(tracker.id),
      topics.location(tracker.id),
    ]) {
      expect(probe.on(topic).every((m) => m.payload.length > 0)).toBe(true)
    }
    // Availability: online, retained.
    const retained = await retainedMessages(FILTERS, MARKER)
    expect(retained.get(topics.status)).toBe('online')
    await stop(bridge)
    expect((await retainedMessages(FILTERS, MARKER)).get(topics.status)).toBe('offline')
  })

  it('leaves the latest state retained for a fresh subscriber, and omits what is unknown', async () => {
    const bridge = await start()
    const tracker = await insertTracker(database.db, { name: 'keys' })
    const seen = minutesAgo(3)
    await report(tracker, seen, { lat: 52.52, lon: 13.405, accuracy: 5, battery: null, city: null })
    await expect.poll(() => probe.last(topics.location(tracker.id))).toBeTruthy()
    await bridge.idle()

    const retained = await retainedMessages(FILTERS, MARKER)
    expect(JSON.parse(retained.get(topics.location(tracker.id))!)).toEqual({
      _type: 'location',
      tid: 'KE',
      lat: 52.52,
      lon: 13.405,
      tst: seen.getTime() / 1000,
      acc: 5,
    })
    expect(JSON.parse(retained.get(topics.attributes(tracker.id))!)).toEqual({
      latitude: 52.52,
      longitude: 13.405,
      gps_accuracy: 5,
      last_seen: seen.toISOString(),
    })
    expect(JSON.parse(retained.get(topics.config(tracker.id))!).device.name).toBe('keys')
    expect(JSON.parse(retained.get(topics.published(tracker.id))!)).toEqual({
      last_seen: seen.toISOString(),
      entity: true,
    })
  })

  it('publishes in report order and never a position older than the one published', async () => {
    const bridge = await start()
    const tracker = await insertTracker(database.db, { name: 'Bike' })
    const newer = minutesAgo(10)
    await report(tracker, newer, { lat: 50, lon: 8 })
    await expect
      .poll(() => (probe.last(topics.location(tracker.id)) as { tst?: number })?.tst)
      .toBe(newer.getTime() / 1000)
    const before = probe.on(topics.location(tracker.id)).length

    // A late report: stored for the history, but the trackers row keeps the newer position.
    await report(tracker, minutesAgo(60), { lat: 40, lon: 3 })
    // A last_seen_at moved back by hand (or a restore): the bridge keeps the newer one it published.
    const skipped = async () => (await bridge.metrics.olderPositionsSkipped.get()).values[0]?.value ?? 0
    const skippedBefore = await skipped()
    await sql`UPDATE trackers SET last_seen_at = ${minutesAgo(30)}, last_latitude = 41, last_longitude = 4 WHERE id = ${tracker.id}`.execute(
      database.db,
    )
    await expect.poll(skipped).toBe(skippedBefore + 1)
    await bridge.idle()
    expect(probe.on(topics.location(tracker.id)).length).toBe(before)
    expect((probe.last(topics.attributes(tracker.id)) as { latitude: number }).latitude).toBe(50)

    // Several newer reports in a burst: the last one wins, and tst never goes back.
    for (const [i, minutes] of [8, 6, 4].entries()) {
      await report(tracker, minutesAgo(minutes), { lat: 51 + i, lon: 9 })
    }
    await expect.poll(() => (probe.last(topics.location(tracker.id)) as { lat?: number })?.lat).toBe(53)
    const tsts = probe.on(topics.location(tracker.id)).map((m) => JSON.parse(m.payload).tst as number)
    expect(tsts).toEqual([...tsts].sort((a, b) => a - b))

    // A new bridge process (the in-memory state gone) reads what was published back from the broker.
    await stop(bridge)
    const published = JSON.parse((await retainedMessages(FILTERS, MARKER)).get(topics.published(tracker.id))!)
    await sql`UPDATE trackers SET last_seen_at = ${minutesAgo(20)}, last_latitude = 42, last_longitude = 5 WHERE id = ${tracker.id}`.execute(
      database.db,
    )
    const again = await start()
    expect((await again.metrics.olderPositionsSkipped.get()).values[0]?.value).toBe(1)
    const retained = await retainedMessages(FILTERS, MARKER)
    expect(JSON.parse(retained.get(topics.location(tracker.id))!).lat).toBe(53)
    expect(JSON.parse(retained.get(topics.published(tracker.id))!)).toEqual(published)
  })

  it('removes the entity when a tracker is deactivated or deleted (empty retained config), also while it was stopped', async () => {
    const bridge = await start()
    const a = await insertTracker(database.db, { name: 'Suitcase' })
    const b = await insertTracker(database.db, { name: 'Umbrella' })
    await report(a, minutesAgo(2), { lat: 45, lon: 7 })
    await report(b, minutesAgo(2), { lat: 46, lon: 7 })
    await expect.poll(() => probe.last(topics.location(b.id))).toBeTruthy()

    await database.db.updateTable('trackers').set({ is_active: false }).where('id', '=', a.id).execute()
    await expect.poll(() => probe.last(topics.config(a.id))).toBe('')
    await bridge.idle()
    let retained = await retainedMessages(FILTERS, MARKER)
    for (const topic of [
      topics.config(a.id),
      topics.attributes(a.id),
      topics.location(a.id),
      topics.card(a.id),
    ]) {
      expect(retained.has(topic)).toBe(false)
    }
    expect(JSON.parse(retained.get(topics.published(a.id))!).entity).toBe(false)

    // Reactivated: the entity comes back with its position.
    await database.db.updateTable('trackers').set({ is_active: true }).where('id', '=', a.id).execute()
    await expect
      .poll(() => (probe.last(topics.config(a.id)) as { unique_id?: string })?.unique_id)
      .toBe(`tracker_${a.id}`)
    await expect.poll(() => (probe.last(topics.location(a.id)) as { lat?: number })?.lat).toBe(45)

    await database.db.deleteFrom('trackers').where('id', '=', a.id).execute()
    await expect.poll(() => probe.last(topics.config(a.id))).toBe('')
    await expect.poll(() => probe.last(topics.published(a.id))).toBe('')

    // Deleted while no bridge ran: the next one finds it in its bookkeeping and removes it.
    await stop(bridge)
    await database.db.deleteFrom('trackers').where('id', '=', b.id).execute()
    await start()
    retained = await retainedMessages(FILTERS, MARKER)
    for (const id of [a.id, b.id]) {
      for (const topic of [
        topics.config(id),
        topics.attributes(id),
        topics.location(id),
        topics.published(id),
      ]) {
        expect(retained.has(topic)).toBe(false)
      }
    }
  })

  it('says offline through its Last Will when its connection dies, and republishes everything after reconnecting', async () => {
    const bridge = await start()
    const tracker = await insertTracker(database.db, { name: 'Car' })
    await report(tracker, minutesAgo(9), { lat: 47, lon: 11 })
    await expect.poll(() => probe.last(topics.location(tracker.id))).toBeTruthy()
    await bridge.idle()

    // The broker lost its retained state (restarted without persistence) ...
    await clearRetained([
      topics.config(tracker.id),
      topics.attributes(tracker.id),
      topics.location(tracker.id),
    ])
    const statusBefore = probe.on(topics.status).length
    const reconnects = bridge.health().mqtt.reconnects
    // ... and the bridge's connection died without a DISCONNECT (the broker restarting).
    bridge.broker.client.stream.destroy()
    await expect
      .poll(() =>
        probe
          .on(topics.status)
          .slice(statusBefore)
          .map((m) => m.payload),
      )
      .toEqual(['offline', 'online'])
    await expect.poll(() => bridge.health().mqtt.reconnects).toBe(reconnects + 1)
    await bridge.idle()
    const retained = await retainedMessages(FILTERS, MARKER)
    expect(JSON.parse(retained.get(topics.location(tracker.id))!).lat).toBe(47)
    expect(JSON.parse(retained.get(topics.attributes(tracker.id))!).latitude).toBe(47)
    expect(retained.has(topics.config(tracker.id))).toBe(true)
    expect(retained.get(topics.status)).toBe('online')
    expect((await bridge.metrics.brokerReconnects.get()).values[0]?.value).toBe(1)
  })

  it('delivers a change made while another client with its client id holds the session (a broker-side takeover)', async () => {
    const bridge = await start()
    const tracker = await insertTracker(database.db, { name: 'Dog' })
    await report(tracker, minutesAgo(20), { lat: 44, lon: 9 })
    await expect.poll(() => probe.last(topics.location(tracker.id))).toBeTruthy()
    await bridge.idle()

    const { default: mqtt } = await import('mqtt')
    const intruder = await mqtt.connectAsync(TEST_MQTT_URL, {
      clientId: bridge.broker.client.options.clientId,
      reconnectPeriod: 0,
    })
    await expect.poll(() => bridge.health().mqtt.connected).toBe(false)
    expect(bridge.health()).toMatchObject({ status: 'down', down: ['mqtt broker'] })
    const response = await fetch(`http://127.0.0.1:${bridge.httpPort}/health`)
    expect(response.status).toBe(503)
    await report(tracker, minutesAgo(1), { lat: 44.5, lon: 9.5 })
    await expect.poll(() => (probe.last(topics.location(tracker.id)) as { lat?: number })?.lat).toBe(44.5)
    await expect.poll(() => bridge.health().status).toBe('ok')
    await intruder.endAsync(true)
  })

  it.skipIf(testEnv.databaseUrl !== undefined)(
    're-reads every tracker after its LISTEN connection comes back (notifications sent meanwhile are lost)',
    async () => {
      const bridge = await start()
      const tracker = await insertTracker(database.db, { name: 'Boat' })
      await report(tracker, minutesAgo(15), { lat: 43, lon: 5 })
      await expect.poll(() => probe.last(topics.location(tracker.id))).toBeTruthy()
      await bridge.idle()
      const fullPasses = async () =>
        (await bridge.metrics.syncs.get()).values.find((v) => v.labels.scope === 'all')?.value ?? 0
      const before = await fullPasses()
      const embedded = database as unknown as EmbeddedDatabase
      await embedded.interruptListeners(async () => {
        expect(bridge.health()).toMatchObject({ status: 'down', down: ['database listener'] })
        // Its notification is lost: nobody listens.
        await report(tracker, minutesAgo(14), { lat: 43.3, lon: 5.4 })
      })
      await expect.poll(() => (probe.last(topics.location(tracker.id)) as { lat?: number })?.lat).toBe(43.3)
      expect(await fullPasses()).toBeGreaterThan(before)
      expect(bridge.health()).toMatchObject({ status: 'ok', listener: { connected: true, reconnects: 1 } })
      expect((await bridge.metrics.listenerReconnects.get()).values[0]?.value).toBe(1)
    },
  )

  it('serves /health (which side is down) and /metrics', async () => {
    const bridge = await start({ BRIDGE_OWNTRACKS: 'false' })
    const health = await (await fetch(`http://127.0.0.1:${bridge.httpPort}/health`)).json()
    expect(health).toMatchObject({
      status: 'ok',
      down: [],
      listener: { connected: true },
      mqtt: { connected: true },
    })
    const tracker = await insertTracker(database.db, { name: 'Wallet' })
    await report(tracker, minutesAgo(1), { lat: 40.4, lon: -3.7 })
    await expect.poll(() => probe.last(topics.attributes(tracker.id))).toBeTruthy()
    await bridge.idle()
    expect(probe.last(topics.location(tracker.id))).toBeUndefined()
    const text = await (await fetch(`http://127.0.0.1:${bridge.httpPort}/metrics`)).text()
    expect(text).toMatch(/tracker_bridge_messages_published_total\{format="homeassistant"\} [1-9]/)
    expect(text).toMatch(/tracker_bridge_messages_published_total\{format="owntracks"\} 0/)
    expect(text).toMatch(/tracker_bridge_last_publish_timestamp_seconds \d/)
    expect(text).toContain('tracker_bridge_mqtt_reconnects_total 0')
    expect(text).toContain('tracker_bridge_mqtt_connected 1')
    expect(text).toContain('tracker_bridge_listener_connected 1')
  })
})
