import { describe, expect, it } from 'vitest'
import {
  type DecryptedReport,
  decryptReports,
  type EndpointReport,
  type ParsedTracker,
  SimulatedNetwork,
  type SimulatedReport,
  simulatedTrackers,
} from '../src/index.ts'
import { distanceKm } from '../src/simulator/cities.ts'
import { multiply, N, pointFromBytes, toAffine } from '../src/simulator/p224-points.ts'
import { VECTOR } from './vector.ts'

const DAY = 86_400_000
const NOW = new Date('2026-03-10T12:00:00Z')
const keyMap = (trackers: ParsedTracker[]) =>
  new Map(trackers.flatMap((t) => t.keys.map((k) => [k.hashedAdvKey, k.privateKey] as const)))
const asEndpoint = (r: SimulatedReport): EndpointReport => ({
  id: r.hashedAdvKey,
  datePublished: r.datePublished,
  payload: r.payload,
})

describe('the P-224 arithmetic behind the fast ephemeral keys', () => {
  it('agrees with the public key of the fixed vector (n·G = O and d·G = the advertisement key)', () => {
    const G = {
      x: 0xb70e0cbd6bb4bf7f321390b94a03c1d356c21122343280d6115c1d21n,
      y: 0xbd376388b5f723fb4c22dfe6cd4375a05a07476444d5819985007e34n,
    }
    const d = BigInt(`0x${Buffer.from(VECTOR.privateKey, 'base64').toString('hex')}`)
    expect(
      Buffer.from(toAffine(multiply(G, d)).x.toString(16).padStart(56, '0'), 'hex').toString('base64'),
    ).toBe(VECTOR.advertisementKey)
    expect(multiply(G, N).Z).toBe(0n)
    expect(() => pointFromBytes(Buffer.alloc(57))).toThrow()
  })
})

describe('SimulatedNetwork', () => {
  const trackers = simulatedTrackers({ seed: 11, trackers: 3, keysPerTracker: 3 })
  const network = new SimulatedNetwork({ trackers, seed: 11, corruptShare: 0 })

  it('serves genuinely encrypted reports that decrypt to the positions it simulated, spread over rotating keys', () => {
    const truth = network.visibleReports({ now: NOW })
    expect(truth.length).toBeGreaterThan(3 * 7 * 96 * 0.6)
    const { reports, rejected } = decryptReports(keyMap(trackers), truth.map(asEndpoint))
    expect(rejected).toEqual([])
    expect(reports.map(summary)).toEqual(
      truth.map((r) => summary({ ...r.fix, hashedAdvKey: r.hashedAdvKey })),
    )
    // Every key of every tracker gets a share of its tracker's reports.
    for (const [index, tracker] of trackers.entries()) {
      const counts = tracker.keys.map(
        (key) => truth.filter((r) => r.hashedAdvKey === key.hashedAdvKey).length,
      )
      const total = truth.filter((r) => r.trackerIndex === index).length
      for (const count of counts) expect(count).toBeGreaterThan(total / 6)
    }
  })

  it('returns identical bytes on every poll and after a restart with the same seed', () => {
    const ids = trackers[0]!.keys.map((k) => k.hashedAdvKey)
    const first = network.answer(ids, 7, NOW)
    expect(network.answer(ids, 7, NOW)).toEqual(first)
    const restarted = new SimulatedNetwork({ trackers, seed: 11, cacheReports: 1 })
    expect(restarted.answer(ids, 7, NOW)).toEqual(first)
    const otherSeed = new SimulatedNetwork({ trackers, seed: 12 })
    expect(otherSeed.answer(ids, 7, NOW)[0]?.payload).not.toBe(first[0]?.payload)
  })

  it('answers newest first, only reports newer than now - days that were already published', () => {
    const ids = trackers.flatMap((t) => t.keys.map((k) => k.hashedAdvKey))
    const oneDay = network.answer(ids, 1, NOW)
    const timestamps = oneDay.map((r) => r.timestampSeconds * 1000)
    expect(timestamps).toEqual([...timestamps].sort((a, b) => b - a))
    expect(Math.min(...timestamps)).toBeGreaterThan(NOW.getTime() - DAY)
    expect(Math.max(...oneDay.map((r) => r.datePublished))).toBeLessThanOrEqual(NOW.getTime())
    // The network forgets after its retention (7 days) whatever the request asks for.
    const all = network.answer(ids, 30, NOW)
    expect(Math.min(...all.map((r) => r.timestampSeconds * 1000))).toBeGreaterThan(NOW.getTime() - 7 * DAY)
    expect(network.answer(['not-a-simulated-key'], 7, NOW)).toEqual([])
  })

  it('makes late reports appear only on later polls, with their old timestamps', () => {
    const late = new SimulatedNetwork({ trackers, seed: 11, lateArrivalShare: 0.3 })
    const before = late.visibleReports({ now: NOW })
    const after = late.visibleReports({ now: new Date(NOW.getTime() + 2 * DAY) })
    const arrived = after.filter(
      (r) => r.late && r.timestamp < NOW && !before.some((b) => b.payload === r.payload),
    )
    expect(arrived.length).toBeGreaterThan(20)
    for (const report of arrived) expect(report.datePublished).toBeGreaterThan(NOW.getTime())
    expect(before.filter((r) => r.late).every((r) => r.datePublished <= NOW.getTime())).toBe(true)
  })

  it('moves trackers plausibly between real European cities, west of Greenwich too', () => {
    const many = simulatedTrackers({ seed: 5, trackers: 24 })
    const world = new SimulatedNetwork({ trackers: many, seed: 5, lateArrivalShare: 0 })
    const truth = world.visibleReports({ now: NOW })
    const positions = truth.map((r) => r.fix)
    expect(positions.some((p) => p.longitude < 0)).toBe(true)
    for (const p of positions) {
      expect(p.latitude).toBeGreaterThan(36)
      expect(p.latitude).toBeLessThan(61)
      expect(p.longitude).toBeGreaterThan(-10)
      expect(p.longitude).toBeLessThan(25)
    }
    const places = new Set(truth.map((r) => r.place))
    expect([...places].some((place) => place.includes(' → '))).toBe(true)
    // No teleporting: between reports less than an hour apart a tracker moves at road speeds.
    for (let index = 0; index < many.length; index++) {
      const track = truth.filter((r) => r.trackerIndex === index)
      for (let i = 1; i < track.length; i++) {
        const hours = (track[i]!.timestamp.getTime() - track[i - 1]!.timestamp.getTime()) / 3_600_000
        if (hours > 0 && hours < 1)
          expect(distanceKm(track[i - 1]!.fix, track[i]!.fix) / hours).toBeLessThan(200)
      }
    }
  })

  it('leaves gaps (outages, flights) unless told not to', () => {
    const gapTrackers = simulatedTrackers({ seed: 8, trackers: 6 })
    const gappy = new SimulatedNetwork({ trackers: gapTrackers, seed: 8 }).visibleReports({ now: NOW })
    const longestGapHours = (reports: SimulatedReport[]) =>
      Math.max(
        ...reports
          .slice(1)
          .map((r, i) => (r.timestamp.getTime() - reports[i]!.timestamp.getTime()) / 3_600_000),
      )
    expect(longestGapHours(gappy.filter((r) => r.trackerIndex === 0))).toBeGreaterThan(1)
    const dense = new SimulatedNetwork({
      trackers: gapTrackers,
      seed: 8,
      gaps: false,
      lateArrivalShare: 0,
      reportsPerDay: 48,
    })
    const reports = dense.visibleReports({ now: NOW, ids: [gapTrackers[0]!.keys[0]!.hashedAdvKey] })
    expect(reports.length).toBeGreaterThanOrEqual(7 * 48 - 2)
    expect(longestGapHours(reports)).toBeLessThan(1)
  })

  it('mixes 88- and 89-byte payloads as told', () => {
    const lengths = (share89Byte: number) =>
      new Set(
        new SimulatedNetwork({ trackers, seed: 11, share89Byte })
          .visibleReports({ now: NOW })
          .map((r) => r.payloadLength),
      )
    expect(lengths(0)).toEqual(new Set([88]))
    expect(lengths(1)).toEqual(new Set([89]))
    expect(lengths(0.5)).toEqual(new Set([88, 89]))
  })

  it('corrupts a share of the payloads, each of which decryption rejects for the matching reason', () => {
    const corrupt = new SimulatedNetwork({ trackers, seed: 11, corruptShare: 0.2 })
    const truth = corrupt.visibleReports({ now: NOW })
    const { reports, rejected } = decryptReports(keyMap(trackers), truth.map(asEndpoint))
    const corrupted = truth.filter((r) => r.corruption !== null)
    expect(corrupted.length / truth.length).toBeGreaterThan(0.1)
    expect(reports).toHaveLength(truth.length - corrupted.length)
    const expectedReason = {
      tampered: 'undecryptable',
      truncated: 'wrong_length',
      out_of_range: 'coordinates_out_of_range',
    }
    expect(rejected.map((r) => r.reason)).toEqual(corrupted.map((r) => expectedReason[r.corruption!]))
    expect(new Set(rejected.map((r) => r.reason)).size).toBe(3)
  })

  it("can mimic the real endpoint's de-duplication by timestamp across the ids of one request", () => {
    const crowd = simulatedTrackers({ seed: 3, trackers: 12 })
    const ids = crowd.map((t) => t.keys[0]!.hashedAdvKey)
    const options = { trackers: crowd, seed: 3, reportsPerDay: 1440 }
    const quirky = new SimulatedNetwork({ ...options, dedupeByTimestamp: true })
    const honest = new SimulatedNetwork(options)
    const together = quirky.answer(ids, 1, NOW)
    const oneByOne = ids.flatMap((id) => quirky.answer([id], 1, NOW))
    expect(oneByOne).toHaveLength(honest.answer(ids, 1, NOW).length)
    expect(together.length).toBeLessThan(oneByOne.length)
    expect(new Set(together.map((r) => r.timestampSeconds)).size).toBe(together.length)
  })

  it('caps the reports of one answer, keeping the newest', () => {
    const capped = new SimulatedNetwork({ trackers, seed: 11, maxReportsPerRequest: 25 })
    const ids = trackers.flatMap((t) => t.keys.map((k) => k.hashedAdvKey))
    expect(capped.answer(ids, 7, NOW)).toEqual(network.answer(ids, 7, NOW).slice(0, 25))
  })
})

function summary(
  r: Pick<
    DecryptedReport,
    'hashedAdvKey' | 'latitude' | 'longitude' | 'horizontalAccuracy' | 'status' | 'confidence'
  > & { timestamp: Date },
) {
  return {
    id: r.hashedAdvKey,
    t: r.timestamp.getTime(),
    lat: Math.round(r.latitude * 1e7) / 1e7,
    lon: Math.round(r.longitude * 1e7) / 1e7,
    acc: r.horizontalAccuracy,
    status: r.status,
    confidence: r.confidence,
  }
}
