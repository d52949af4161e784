import { describe, expect, it } from 'vitest'
import type { AlertPayload } from '../outbox/alert-payload.ts'
import { describeAlert, describeDuration, describeInterval } from './alert-message.ts'

const payload = (
  overrides: Partial<AlertPayload['event']> = {},
  type: AlertPayload['type'] = 'alert.fired',
) =>
  ({
    type,
    event: {
      id: 'e1',
      kind: 'leave',
      occurredAfter: '2026-12-17T10:02:00.000Z',
      occurredBefore: '2026-12-17T10:31:00.000Z',
      detectedAt: '2026-12-17T12:31:00.000Z',
      lateBySeconds: 7200,
      latitude: 52.53,
      longitude: 13.41,
      cancelReason: null,
      detail: {},
      ...overrides,
    },
    rule: { id: 'r1', name: 'Keys left home', kind: overrides.kind ?? 'leave' },
    tracker: { id: 't1', name: 'Keys' },
    place: { id: 'p1', name: 'Home' },
  }) satisfies AlertPayload

describe('describeAlert', () => {
  it('says when it happened, in report time, and how late we learnt it', () => {
    expect(describeAlert(payload())).toEqual({
      title: 'Keys left Home',
      message:
        'Keys left Home between 10:02 and 10:31 UTC on 17 Dec 2026 — learnt 2 h later.\nRule: Keys left home',
    })
    expect(describeAlert(payload({ kind: 'enter', lateBySeconds: 20 })).message).toBe(
      'Keys arrived at Home between 10:02 and 10:31 UTC on 17 Dec 2026.\nRule: Keys left home',
    )
  })

  it('says a cancellation withdraws the earlier alert, and why', () => {
    const text = describeAlert(
      payload({ cancelReason: 'a later report put it inside the place' }, 'alert.cancelled'),
    )
    expect(text.title).toBe('Cancelled: Keys left Home')
    expect(text.message).toBe(
      'A later report showed that Keys did not leave Home between 10:02 and 10:31 UTC on 17 Dec 2026 after all (a later report put it inside the place); the earlier alert is withdrawn.\nRule: Keys left home',
    )
  })

  it('not seen: since when, and for how long', () => {
    const text = describeAlert(
      payload({ kind: 'not_seen', occurredAfter: '2026-12-16T10:31:00Z', lateBySeconds: 0 }),
    )
    expect(text.title).toBe('Keys not seen for 24 h')
    expect(text.message).toContain(
      'Keys has not been seen since 10:31 UTC on 16 Dec 2026 (24 h by 10:31 UTC on 17 Dec 2026)',
    )
  })

  it('battery: the level the event names', () => {
    const text = describeAlert(
      payload({ kind: 'battery', detail: { battery: 'critical' }, occurredAfter: null }),
    )
    expect(text.title).toBe('Keys: battery critical')
    expect(text.message).toContain(
      'Keys reported its battery critical by 10:31 UTC on 17 Dec 2026 — learnt 2 h later',
    )
  })
})

describe('describeInterval and describeDuration', () => {
  it('spans days when it must', () => {
    expect(describeInterval(new Date('2026-12-16T23:50:00Z'), new Date('2026-12-17T00:10:00Z'))).toBe(
      'between 23:50 UTC on 16 Dec 2026 and 00:10 UTC on 17 Dec 2026',
    )
  })

  it('rounds to what a notification says', () => {
    expect([45, 600, 7200, 3 * 86_400].map(describeDuration)).toEqual(['45 s', '10 min', '2 h', '3 days'])
  })
})
