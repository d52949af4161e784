/**
 * Load cost and lookup speed of the offline geocoder.
 *
 *   node --conditions=tracker-source packages/geocoder/bench/lookup.bench.ts [count]
 *
 * Run it in a fresh process: the index is loaded once per process, so the load and memory figures
 * only mean something for the first call (`freshLoad` says whether they do).
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { createOfflineGeocoder } from '../src/index.ts'

export interface LookupBenchmarkOptions {
  /** Lookups per scenario (default 100 000). */
  count?: number
  /** Seed for the random points, so runs compare like with like. */
  seed?: number
}

export interface ScenarioResult {
  lookups: number
  /** How many returned a place (the rest were farther than maxDistanceKm from any). */
  found: number
  totalMs: number
  lookupsPerSecond: number
  microsecondsPerLookup: number
}

export interface LookupBenchmarkResult {
  node: string
  places: number
  /** False when the index was already loaded in this process: load and memory figures are then 0. */
  freshLoad: boolean
  loadMs: number
  /** Growth caused by loading, after a full GC. */
  heapUsedMb: number
  rssMb: number
  arrayBuffersMb: number
  /** Uniform over the sphere: about 70% ocean, mostly null answers. */
  uniform: ScenarioResult
  /** Within 20 km of a known place: what the importer sees, nearly every lookup finds a place. */
  nearPlaces: ScenarioResult
}

/** Small deterministic PRNG (mulberry32): the same points on every run. */
function random(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A full GC so memory deltas measure what is retained; needs --expose-gc, enabled here at runtime. */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  gc()
}

function time(count: number, run: (i: number) => boolean): ScenarioResult {
  // Warm up so the JIT has compiled the search before it is timed.
  for (let i = 0; i < Math.min(count, 2_000); i++) run(i)
  let found = 0
  const startedAt = performance.now()
  for (let i = 0; i < count; i++) if (run(i)) found++
  const totalMs = performance.now() - startedAt
  return {
    lookups: count,
    found,
    totalMs,
    lookupsPerSecond: Math.round((count / totalMs) * 1000),
    microsecondsPerLookup: (totalMs * 1000) / count,
  }
}

const MB = 1024 * 1024

export function runLookupBenchmark(options: LookupBenchmarkOptions = {}): LookupBenchmarkResult {
  const count = options.count ?? 100_000
  const next = random(options.seed ?? 42)

  collectGarbage()
  const before = process.memoryUsage()
  const startedAt = performance.now()
  const geocoder = createOfflineGeocoder()
  const createMs = performance.now() - startedAt
  collectGarbage()
  const after = process.memoryUsage()
  // If a geocoder was created earlier in this process, the index was loaded then (creating this one
  // took far less than loadMs) and the memory delta says nothing.
  const freshLoad = createMs >= geocoder.dataset.loadMs
  const delta = (key: keyof NodeJS.MemoryUsage) => (freshLoad ? (after[key] - before[key]) / MB : 0)

  const uniform = Array.from({ length: count }, () => ({
    // asin keeps the density uniform over the sphere's area instead of crowding the poles.
    latitude: (Math.asin(2 * next() - 1) * 180) / Math.PI,
    longitude: next() * 360 - 180,
  }))
  // Seeds are known places (found by sampling the sphere without a distance limit), moved up to 20 km.
  const unlimited = createOfflineGeocoder({ maxDistanceKm: Number.POSITIVE_INFINITY })
  const nearPlaces = uniform.map((point) => {
    const place = unlimited.nearest(point.latitude, point.longitude)!
    const km = next() * 20
    const dLat = (km / 111.2) * (next() * 2 - 1)
    const dLon =
      (km / (111.2 * Math.max(Math.cos((place.latitude * Math.PI) / 180), 0.05))) * (next() * 2 - 1)
    return {
      latitude: Math.max(-90, Math.min(90, place.latitude + dLat)),
      longitude: ((place.longitude + dLon + 540) % 360) - 180,
    }
  })

  return {
    node: process.version,
    places: geocoder.dataset.places,
    freshLoad,
    loadMs: freshLoad ? geocoder.dataset.loadMs : 0,
    heapUsedMb: delta('heapUsed'),
    rssMb: delta('rss'),
    arrayBuffersMb: delta('arrayBuffers'),
    uniform: time(count, (i) => geocoder.nearest(uniform[i]!.latitude, uniform[i]!.longitude) !== null),
    nearPlaces: time(
      count,
      (i) => geocoder.nearest(nearPlaces[i]!.latitude, nearPlaces[i]!.longitude) !== null,
    ),
  }
}

if (import.meta.main) {
  const count = process.argv[2] ? Number(process.argv[2]) : undefined
  const result = runLookupBenchmark(count === undefined ? {} : { count })
  const round = (n: number, digits = 1) => Number(n.toFixed(digits))
  const scenario = (s: ScenarioResult) => ({
    ...s,
    totalMs: round(s.totalMs),
    microsecondsPerLookup: round(s.microsecondsPerLookup, 2),
  })
  console.log(
    JSON.stringify(
      {
        ...result,
        loadMs: round(result.loadMs),
        heapUsedMb: round(result.heapUsedMb),
        rssMb: round(result.rssMb),
        arrayBuffersMb: round(result.arrayBuffersMb),
        uniform: scenario(result.uniform),
        nearPlaces: scenario(result.nearPlaces),
      },
      null,
      2,
    ),
  )
}
