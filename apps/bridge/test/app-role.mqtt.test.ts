import { randomBytes } from 'node:crypto'
import { type EmbeddedDatabase, recordTrackerSighting, sql } from '@tracker/db'
import {
  createTestDatabase,
  insertTracker,
  reportRow,
  type TestDatabase,
  withAppRoles,
} from '@tracker/db/testing'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseBridgeEnv, startBridge } from '../src/index.ts'
import { readTrackerStates } from '../src/trackers/tracker-state.ts'
import { clearRetained, MqttProbe, retainedMessages, TEST_MQTT_URL } from './helpers/mqtt-probe.ts'

// The bridge under its own database role (applyAppRoles, as the migrate step makes it with
// DB_ROLES=on): its reads run under SET ROLE tracker_bridge on the embedded engine, which may read
// trackers and location_reports and nothing else. Reports are written as the owner, as the importer's
// role would. Against the machine's Mosquitto, like bridge.mqtt.test.ts.
const RUN = `trk-role-${process.pid}-${randomBytes(4).toString('hex')}`
const FILTERS = [`${RUN}/#`]

let owner: TestDatabase
let asBridge: EmbeddedDatabase
let probe: MqttProbe
beforeAll(async () => {
  owner = await createTestDatabase()
  const asRole = await withAppRoles(owner)
  asBridge = asRole('bridge')
  probe = await MqttProbe.connect(FILTERS)
})
afterAll(async () => {
  await probe?.close()
  await clearRetained((await retainedMessages(FILTERS, `${RUN}/marker`)).keys())
  await asBridge?.close()
  await owner?.close()
})

async function seen(tracker: { id: string; hashedAdvKeys: string[] }, at: Date): Promise<void> {
  await owner.db
    .insertInto('location_reports')
    .values(
      reportRow(tracker.hashedAdvKeys[0]!, at, { latitude: 48.85, longitude: 2.35, horizontal_accuracy: 12 }),
    )
    .execute()
  await recordTrackerSighting(owner.db, {
    trackerId: tracker.id,
    seenAt: at,
    latitude: 48.85,
    longitude: 2.35,
    nearestCity: null,
    batteryLevel: null,
  })
}

describe('the bridge under its database role', () => {
  it('reads the trackers’ states, the last report’s accuracy included', async () => {
    const tracker = await insertTracker(owner.db, { name: 'Role' })
    const at = new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000)
    await seen(tracker, at)
    const [state] = await readTrackerStates(asBridge.db, [tracker.id])
    expect(state).toMatchObject({ id: tracker.id, name: 'Role', lastSeenAt: at, accuracy: 12 })
    expect((await readTrackerStates(asBridge.db, 'all')).length).toBeGreaterThan(0)
  })

  it('publishes a tracker seen while it runs (LISTEN, then its reads)', async () => {
    const bridge = await startBridge({
      database: asBridge,
      logger: pino({ level: 'silent' }),
      config: parseBridgeEnv({
        BRIDGE_MQTT_URL: TEST_MQTT_URL,
        BRIDGE_CLIENT_ID: RUN,
        BRIDGE_TOPIC_PREFIX: `${RUN}/bridge`,
        BRIDGE_HOMEASSISTANT_PREFIX: `${RUN}/ha`,
        BRIDGE_OWNTRACKS_PREFIX: `${RUN}/ot`,
        BRIDGE_OWNTRACKS_USER: 'family',
        BRIDGE_HTTP_PORT: '0',
        BRIDGE_HTTP_HOST: '127.0.0.1',
      }),
    })
    try {
      await expect.poll(() => bridge.health().status).toBe('ok')
      const tracker = await insertTracker(owner.db, { name: 'Listened' })
      await seen(tracker, new Date(Math.floor(Date.now() / 1000) * 1000 - 30_000))
      await expect.poll(() => probe.last(`${RUN}/ot/family/${tracker.id}`)).toMatchObject({ lat: 48.85 })
    } finally {
      await bridge.stop()
    }
  })

  it('still cannot write trackers, nor read tokens or keys', async () => {
    await expect(sql`UPDATE trackers SET name = 'x'`.execute(asBridge.db)).rejects.toThrow(
      /permission denied/,
    )
    await expect(sql`SELECT id FROM api_tokens`.execute(asBridge.db)).rejects.toThrow(/permission denied/)
    await expect(sql`SELECT id FROM tracker_keys`.execute(asBridge.db)).rejects.toThrow(/permission denied/)
  })
})
