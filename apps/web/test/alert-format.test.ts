import { describe, expect, it } from 'vitest'
import {
  alertHeadline,
  deliveryText,
  formatDuration,
  formatInterval,
  lateText,
} from '../src/alerts/alert-format.ts'
import type { Alert, AlertDelivery } from '../src/api/alert-queries.ts'

const alert = (overrides: Partial<Alert>): Alert => ({
  id: 'a',
  kind: 'LEAVE',
  rule: { id: 'r', name: 'Left home', notSeenSeconds: null, batteryAtOrBelow: null },
  tracker: { id: 't', name: 'Bike' },
  place: { id: 'p', name: 'Home' },
  occurredAfter: null,
  occurredBefore: '2026-03-01T08:20:00Z',
  detectedAt: '2026-03-01T11:20:00Z',
  lateBySeconds: 10_800,
  location: null,
  refined: false,
  cancelled: false,
  cancelReason: null,
  deliveries: [],
  ...overrides,
})

const delivery = (overrides: Partial<AlertDelivery>): AlertDelivery => ({
  id: 'd',
  channelName: 'Phone',
  channelKind: 'NTFY',
  action: 'FIRED',
  status: 'DELIVERED',
  gaveUp: false,
  attempts: 1,
  lastError: null,
  nextAttemptAt: null,
  deliveredAt: null,
  ...overrides,
})

describe('alerts in words', () => {
  it('says what happened for each kind', () => {
    expect(alertHeadline(alert({}))).toBe('Bike left Home')
    expect(alertHeadline(alert({ kind: 'ENTER' }))).toBe('Bike entered Home')
    expect(
      alertHeadline(
        alert({
          kind: 'NOT_SEEN',
          place: null,
          rule: { id: 'r', name: 'q', notSeenSeconds: 86_400, batteryAtOrBelow: null },
        }),
      ),
    ).toBe('Bike not seen for 1 day')
    expect(
      alertHeadline(
        alert({
          kind: 'BATTERY',
          rule: { id: 'r', name: 'b', notSeenSeconds: null, batteryAtOrBelow: 'LOW' },
        }),
      ),
    ).toBe('Bike: battery low or lower')
  })

  it('durations in their two largest units', () => {
    expect(formatDuration(45)).toBe('45 s')
    expect(formatDuration(1_200)).toBe('20 min')
    expect(formatDuration(3 * 3600 + 300)).toBe('3 h 5 min')
    expect(formatDuration(3 * 3600)).toBe('3 h')
    expect(formatDuration(2 * 86_400 + 4 * 3600)).toBe('2 days 4 h')
    expect(lateText(20)).toBe('learnt within a minute')
    expect(lateText(10_800)).toBe('learnt 3 h later')
  })

  it('when it happened: the interval in the given zone, with the zone named', () => {
    const berlin = formatInterval('2026-03-01T08:00:00Z', '2026-03-01T08:20:00Z', 'Europe/Berlin')
    expect(berlin).toMatch(/^between /)
    expect(berlin).toMatch(/\b0?9:00/)
    expect(berlin).toMatch(/\b0?9:20/)
    expect(berlin).toMatch(/GMT\+1|CET/)
    const utc = formatInterval(null, '2026-03-01T08:20:00Z', 'UTC')
    expect(utc).toMatch(/^by .*\b0?8:20/)
  })

  it('each delivery: delivered, retrying, given up', () => {
    expect(deliveryText(delivery({}))).toBe('Phone (ntfy): delivered')
    expect(deliveryText(delivery({ attempts: 2 }))).toBe('Phone (ntfy): delivered after 2 attempts')
    expect(
      deliveryText(delivery({ status: 'FAILED', gaveUp: true, attempts: 8, lastError: 'HTTP 500' })),
    ).toBe('Phone (ntfy): gave up after 8 attempts: HTTP 500')
    expect(deliveryText(delivery({ status: 'PENDING', attempts: 0 }))).toBe('Phone (ntfy): pending')
    expect(
      deliveryText(delivery({ status: 'PENDING', attempts: 1, lastError: 'timeout', action: 'CANCELLED' })),
    ).toBe('Phone (ntfy): cancellation retrying (1 attempt so far: timeout)')
  })
})
