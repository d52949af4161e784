import { describe, expect, it } from 'vitest'
import { mergeWindows, parseRefreshPayload } from '../src/index.ts'
import { windowBelowWatermark } from '../src/refresh/refresh-request.ts'

const d = (iso: string) => new Date(iso)

describe('notification payloads', () => {
  it('a JSON window from the insert trigger, the importer or update_nearest_city is a window', () => {
    expect(
      parseRefreshPayload('{"from":"2026-11-20T10:00:00+00:00","to":"2026-11-20T11:00:00+00:00"}'),
    ).toEqual({
      from: d('2026-11-20T10:00:00Z'),
      to: d('2026-11-20T11:00:00Z'),
    })
    expect(
      parseRefreshPayload(
        '{"from":"2026-11-20T10:00:00Z","to":"2026-11-20T12:00:00Z","reason":"nearest_city"}',
      ),
    ).toEqual({ from: d('2026-11-20T10:00:00Z'), to: d('2026-11-20T12:00:00Z') })
  })

  it("anything else ('test', empty, malformed) asks for location_history only", () => {
    for (const payload of [
      'test',
      '',
      '{',
      '{"from":"yesterday","to":"today"}',
      '{"from":1,"to":2}',
      'null',
    ]) {
      expect(parseRefreshPayload(payload)).toBeNull()
    }
  })

  it('a reversed window is turned around rather than dropped', () => {
    expect(parseRefreshPayload('{"from":"2026-11-20T11:00:00Z","to":"2026-11-20T10:00:00Z"}')).toEqual({
      from: d('2026-11-20T10:00:00Z'),
      to: d('2026-11-20T11:00:00Z'),
    })
  })
})

describe('merging a burst', () => {
  it('covers every window (min from, max to); a plain request adds nothing to the window', () => {
    const a = { from: d('2026-11-20T10:00:00Z'), to: d('2026-11-20T11:00:00Z') }
    const b = { from: d('2026-11-17T03:00:00Z'), to: d('2026-11-17T04:00:00Z') }
    expect(mergeWindows(a, b)).toEqual({ from: b.from, to: a.to })
    expect(mergeWindows(a, null)).toBe(a)
    expect(mergeWindows(null, null)).toBeNull()
  })
})

describe('the part of a window below the watermark', () => {
  const window = { from: d('2026-11-20T10:00:00Z'), to: d('2026-11-20T13:00:00Z') }

  it('is what late reports need an aggregate refresh for', () => {
    expect(windowBelowWatermark(window, d('2026-11-20T12:00:00Z'))).toEqual({
      from: window.from,
      to: d('2026-11-20T12:00:00Z'),
    })
    expect(windowBelowWatermark(window, d('2026-11-21T00:00:00Z'))).toEqual(window)
  })

  it('is nothing when the window is above it (real-time aggregation shows it) or nothing is materialized', () => {
    expect(windowBelowWatermark(window, d('2026-11-20T10:00:00Z'))).toBeNull()
    expect(windowBelowWatermark(window, null)).toBeNull()
    expect(windowBelowWatermark(window, new Date(Number.NaN))).toBeNull()
  })
})
