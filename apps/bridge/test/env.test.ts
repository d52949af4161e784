import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { bridgeTopics, describeConfig, ownTracksTid, parseBridgeEnv } from '../src/index.ts'

describe('parseBridgeEnv', () => {
  it('has defaults for everything but the broker', () => {
    const config = parseBridgeEnv({ BRIDGE_MQTT_URL: 'mqtt://mosquitto:1883' })
    expect(config).toMatchObject({
      mqtt: {
        url: 'mqtt://mosquitto:1883',
        clientId: 'tracker-bridge',
        rejectUnauthorized: true,
        reconnectMaxMs: 30_000,
      },
      topicPrefix: 'tracker',
      homeAssistant: { enabled: true, discoveryPrefix: 'homeassistant' },
      ownTracks: { enabled: true, prefix: 'owntracks', user: 'tracker' },
      httpPort: 9467,
      connect: { mode: 'embedded' },
    })
    const topics = bridgeTopics(config)
    expect(topics.status).toBe('tracker/status')
    expect(topics.homeAssistantConfig('abc')).toBe('homeassistant/device_tracker/tracker/abc/config')
    expect(topics.homeAssistantAttributes('abc')).toBe('tracker/abc/attributes')
    expect(topics.ownTracksLocation('abc')).toBe('owntracks/tracker/abc')
    expect(topics.ownTracksCard('abc')).toBe('owntracks/tracker/abc/info')
  })

  it('names every bad variable', () => {
    expect(() => parseBridgeEnv({})).toThrow(/BRIDGE_MQTT_URL is required/)
    expect(() =>
      parseBridgeEnv({
        BRIDGE_MQTT_URL: 'http://broker',
        BRIDGE_OWNTRACKS_USER: 'a/b',
        BRIDGE_HOMEASSISTANT_PREFIX: 'ha/#',
        BRIDGE_HOMEASSISTANT: 'maybe',
      }),
    ).toThrow(
      /BRIDGE_MQTT_URL must be an mqtt:\/\/[\s\S]*BRIDGE_HOMEASSISTANT must be true or false[\s\S]*BRIDGE_HOMEASSISTANT_PREFIX[\s\S]*BRIDGE_OWNTRACKS_USER/,
    )
    expect(() =>
      parseBridgeEnv({
        BRIDGE_MQTT_URL: 'mqtt://b',
        BRIDGE_HOMEASSISTANT: 'false',
        BRIDGE_OWNTRACKS: 'false',
      }),
    ).toThrow(/nothing to publish/)
    expect(() => parseBridgeEnv({ BRIDGE_MQTT_URL: 'mqtts://b', BRIDGE_MQTT_CERT_FILE: '/x.pem' })).toThrow(
      /BRIDGE_MQTT_CERT_FILE and BRIDGE_MQTT_KEY_FILE go together/,
    )
    expect(() =>
      parseBridgeEnv({ BRIDGE_MQTT_URL: 'mqtts://b', BRIDGE_MQTT_CA_FILE: '/nonexistent/ca.pem' }),
    ).toThrow(/BRIDGE_MQTT_CA_FILE: cannot read \/nonexistent\/ca.pem \(ENOENT\)/)
  })

  it('reads TLS files at start and never logs secrets', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bridge-env-'))
    for (const name of ['ca.pem', 'cert.pem', 'key.pem']) writeFileSync(join(dir, name), `PEM ${name}`)
    const config = parseBridgeEnv({
      BRIDGE_MQTT_URL: 'mqtts://user:pw@broker:8883',
      BRIDGE_MQTT_USERNAME: 'bridge',
      BRIDGE_MQTT_PASSWORD: 's3cret',
      BRIDGE_MQTT_CA_FILE: join(dir, 'ca.pem'),
      BRIDGE_MQTT_CERT_FILE: join(dir, 'cert.pem'),
      BRIDGE_MQTT_KEY_FILE: join(dir, 'key.pem'),
      BRIDGE_MQTT_REJECT_UNAUTHORIZED: 'false',
      DATABASE_URL: 'postgres://tracker:dbpw@db/tracker',
    })
    expect(config.mqtt).toMatchObject({
      ca: 'PEM ca.pem',
      cert: 'PEM cert.pem',
      key: 'PEM key.pem',
      rejectUnauthorized: false,
    })
    const logged = JSON.stringify(describeConfig(config))
    for (const secret of ['s3cret', 'pw@', 'dbpw', 'PEM key.pem']) expect(logged).not.toContain(secret)
  })
})

describe('ownTracksTid', () => {
  it('takes initials, else the first two letters', () => {
    expect(ownTracksTid('Blue Backpack')).toBe('BB')
    expect(ownTracksTid('keys')).toBe('KE')
    expect(ownTracksTid('Émile’s bike')).toBe('ÉS')
    expect(ownTracksTid('—')).toBe('TR')
  })
})
