import { Webhook } from 'standardwebhooks'
import { describe, expect, it } from 'vitest'
import { generateWebhookSecret, validateChannel } from '../src/channels/channel.validation.ts'
import { applyRulePatch, RULE_LIMITS, validateRule } from '../src/rules/rule.validation.ts'
import { AlertInputError } from '../src/validation/alert-input-error.ts'

function refusal(run: () => unknown): AlertInputError {
  try {
    run()
  } catch (error) {
    if (error instanceof AlertInputError) return error
    throw error
  }
  throw new Error('expected an AlertInputError, nothing was thrown')
}

const PLACE = '22222222-2222-4222-8222-222222222222'
const CHANNEL = '33333333-3333-4333-8333-333333333333'

describe('rules', () => {
  it('an enter rule gets the default hysteresis and confirmations; tracker ids null mean every tracker', () => {
    expect(
      validateRule({ name: 'Home', kind: 'enter', placeId: PLACE.toUpperCase(), channelIds: [CHANNEL] }),
    ).toEqual({
      name: 'Home',
      kind: 'enter',
      placeId: PLACE,
      hysteresisM: RULE_LIMITS.hysteresisM.default,
      confirmations: RULE_LIMITS.confirmations.default,
      notSeenSeconds: null,
      batteryAtOrBelow: null,
      trackerIds: null,
      channelIds: [CHANNEL],
      enabled: true,
      muted: false,
    })
  })

  it('each kind needs its own setting', () => {
    expect(refusal(() => validateRule({ name: 'x', kind: 'leave' }))).toMatchObject({
      field: 'placeId',
      reason: 'REQUIRED',
    })
    expect(refusal(() => validateRule({ name: 'x', kind: 'not_seen' }))).toMatchObject({
      field: 'notSeenSeconds',
      reason: 'REQUIRED',
    })
    expect(refusal(() => validateRule({ name: 'x', kind: 'battery' }))).toMatchObject({
      field: 'batteryAtOrBelow',
      reason: 'REQUIRED',
    })
  })

  it("refuses another kind's settings", () => {
    expect(
      refusal(() => validateRule({ name: 'x', kind: 'battery', batteryAtOrBelow: 'low', placeId: PLACE })),
    ).toMatchObject({ field: 'placeId', reason: 'NOT_FOR_KIND' })
    expect(
      refusal(() => validateRule({ name: 'x', kind: 'not_seen', notSeenSeconds: 3600, hysteresisM: 10 })),
    ).toMatchObject({ field: 'hysteresisM', reason: 'NOT_FOR_KIND' })
    expect(
      refusal(() => validateRule({ name: 'x', kind: 'enter', placeId: PLACE, notSeenSeconds: 3600 })),
    ).toMatchObject({ field: 'notSeenSeconds', reason: 'NOT_FOR_KIND' })
  })

  it.each([
    ['confirmations', 0],
    ['confirmations', 11],
    ['hysteresisM', -1],
    ['hysteresisM', RULE_LIMITS.hysteresisM.max + 1],
  ] as const)('refuses %s = %s', (field, value) => {
    expect(
      refusal(() => validateRule({ name: 'x', kind: 'enter', placeId: PLACE, [field]: value })),
    ).toMatchObject({
      field,
      reason: 'OUT_OF_RANGE',
    })
  })

  it('confirmations are whole', () => {
    expect(
      refusal(() => validateRule({ name: 'x', kind: 'enter', placeId: PLACE, confirmations: 1.5 })),
    ).toMatchObject({ reason: 'NOT_AN_INTEGER' })
  })

  it('not seen: 15 minutes to 366 days, whole seconds', () => {
    for (const notSeenSeconds of [899, 366 * 86_400 + 1])
      expect(refusal(() => validateRule({ name: 'x', kind: 'not_seen', notSeenSeconds }))).toMatchObject({
        reason: 'OUT_OF_RANGE',
        details: { min: 900, max: 366 * 86_400 },
      })
    expect(validateRule({ name: 'x', kind: 'not_seen', notSeenSeconds: 86_400 }).notSeenSeconds).toBe(86_400)
  })

  it('battery: medium, low or critical', () => {
    expect(validateRule({ name: 'x', kind: 'battery', batteryAtOrBelow: 'low' }).batteryAtOrBelow).toBe('low')
    expect(
      refusal(() => validateRule({ name: 'x', kind: 'battery', batteryAtOrBelow: 'ok' as 'low' })),
    ).toMatchObject({ reason: 'OUT_OF_RANGE' })
  })

  it('an empty tracker list is refused (null is every tracker); too many channels too', () => {
    expect(
      refusal(() => validateRule({ name: 'x', kind: 'battery', batteryAtOrBelow: 'low', trackerIds: [] })),
    ).toMatchObject({ field: 'trackerIds', reason: 'EMPTY_LIST' })
    const channelIds = Array.from({ length: RULE_LIMITS.maxChannels + 1 }, (_, i) => `c${i}`)
    expect(
      refusal(() => validateRule({ name: 'x', kind: 'battery', batteryAtOrBelow: 'low', channelIds })),
    ).toMatchObject({ field: 'channelIds', reason: 'TOO_MANY' })
  })

  it('an update keeps what is left out and may not change the kind or the place', () => {
    const rule = validateRule({ name: 'Left home', kind: 'leave', placeId: PLACE, confirmations: 3 })
    expect(applyRulePatch(rule, { muted: true, hysteresisM: 80 })).toEqual({
      ...rule,
      muted: true,
      hysteresisM: 80,
    })
    expect(refusal(() => applyRulePatch(rule, { kind: 'enter' }))).toMatchObject({ reason: 'NOT_CHANGEABLE' })
    expect(
      refusal(() => applyRulePatch(rule, { placeId: '44444444-4444-4444-8444-444444444444' })),
    ).toMatchObject({ field: 'placeId', reason: 'NOT_CHANGEABLE' })
    expect(refusal(() => applyRulePatch(rule, { confirmations: 20 }))).toMatchObject({
      reason: 'OUT_OF_RANGE',
    })
  })
})

describe('channels', () => {
  it('a webhook without a secret gets a Standard Webhooks secret that signs and verifies', () => {
    const channel = validateChannel({ name: 'Hook', kind: 'webhook', url: 'https://example.test/hook' })
    expect(channel).toMatchObject({ kind: 'webhook', url: 'https://example.test/hook', topic: null })
    expect(channel.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/)
    // The independent check: the standardwebhooks library accepts the secret as its own.
    const webhook = new Webhook(channel.secret!)
    const headers = { 'webhook-id': 'msg_1', 'webhook-timestamp': String(Math.floor(Date.now() / 1000)) }
    const signature = webhook.sign('msg_1', new Date(), '{}')
    expect(webhook.verify('{}', { ...headers, 'webhook-signature': signature })).toEqual({})
    expect(generateWebhookSecret()).not.toBe(generateWebhookSecret())
  })

  it('a webhook URL is http(s); a given secret must be whsec_ + base64 of 24..64 bytes', () => {
    for (const url of ['ftp://example.test/x', 'not a url', 'file:///etc/passwd'])
      expect(refusal(() => validateChannel({ name: 'x', kind: 'webhook', url }))).toMatchObject({
        field: 'url',
        reason: 'URL_INVALID',
      })
    expect(
      refusal(() =>
        validateChannel({ name: 'x', kind: 'webhook', url: 'http://127.0.0.1:9/', secret: 'hunter2' }),
      ),
    ).toMatchObject({ field: 'secret', reason: 'SECRET_INVALID' })
    expect(
      refusal(() =>
        validateChannel({
          name: 'x',
          kind: 'webhook',
          url: 'http://127.0.0.1:9/',
          secret: `whsec_${Buffer.alloc(8).toString('base64')}`,
        }),
      ),
    ).toMatchObject({ reason: 'SECRET_INVALID' })
    const secret = `whsec_${Buffer.alloc(24, 7).toString('base64')}`
    expect(validateChannel({ name: 'x', kind: 'webhook', url: 'http://127.0.0.1:9/', secret }).secret).toBe(
      secret,
    )
    expect(refusal(() => validateChannel({ name: 'x', kind: 'webhook' }))).toMatchObject({
      reason: 'REQUIRED',
    })
  })

  it('ntfy: a server URL and a topic of ntfy’s characters; an optional token', () => {
    expect(
      validateChannel({ name: 'Phone', kind: 'ntfy', url: 'https://ntfy.sh', topic: 'my_tracker-1' }),
    ).toEqual({
      name: 'Phone',
      kind: 'ntfy',
      url: 'https://ntfy.sh',
      topic: 'my_tracker-1',
      secret: null,
    })
    expect(
      refusal(() => validateChannel({ name: 'x', kind: 'ntfy', url: 'https://ntfy.sh', topic: 'a/b' })),
    ).toMatchObject({ field: 'topic', reason: 'TOPIC_INVALID' })
    expect(refusal(() => validateChannel({ name: 'x', kind: 'ntfy', topic: 'a' }))).toMatchObject({
      field: 'url',
      reason: 'REQUIRED',
    })
    expect(
      refusal(() =>
        validateChannel({ name: 'x', kind: 'ntfy', url: 'https://ntfy.sh', topic: 'a', secret: 'a b' }),
      ),
    ).toMatchObject({ field: 'secret', reason: 'SECRET_INVALID' })
  })

  it('mqtt: a topic without wildcards, not $-prefixed; no url or secret', () => {
    expect(validateChannel({ name: 'HA', kind: 'mqtt', topic: 'tracker/alerts' }).topic).toBe(
      'tracker/alerts',
    )
    for (const topic of ['tracker/+/alerts', 'tracker/#', '$SYS/x', ''])
      expect(refusal(() => validateChannel({ name: 'x', kind: 'mqtt', topic }))).toMatchObject({
        field: 'topic',
        reason: 'TOPIC_INVALID',
      })
    expect(
      refusal(() => validateChannel({ name: 'x', kind: 'mqtt', topic: 'a', url: 'https://x.test' })),
    ).toMatchObject({ field: 'url', reason: 'NOT_FOR_KIND' })
  })
})
