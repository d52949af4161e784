import { CITIES, type City, distanceKm, NEIGHBOURS } from './cities.ts'
import { hash32, sequence, unit } from './hash.ts'

const HOUR_MS = 3_600_000
/** Itineraries are planned in blocks; each block ends where the next one starts. */
export const BLOCK_MS = 4 * 24 * HOUR_MS
const MIN_STAY_MS = 3 * HOUR_MS
const MAX_STAY_MS = 30 * HOUR_MS
/** Longer trips are flights: no phone in a plane relays a tracker, so they are gaps in the history. */
const MAX_DRIVE_KM = 700
const ROAD_FACTOR = 1.25

export interface SimulatedPosition {
  latitude: number
  longitude: number
  moving: boolean
  /** Where the tracker is, for people reading test output: "Lyon" or "Lyon → Geneva". */
  place: string
  /** The itinerary block the position belongs to (battery drain follows it). */
  block: number
}

type Segment =
  | { kind: 'stay'; start: number; end: number; city: City; latitude: number; longitude: number }
  | { kind: 'drive' | 'flight'; start: number; end: number; from: City; to: City; bend: number }

interface Block {
  start: number
  end: number
  segments: Segment[]
  outages: Array<{ start: number; end: number }>
}

/**
 * Where one tracker is at any moment, derived from the seed alone: stays of hours to a day and a
 * half near a city (mostly its home city), road trips to nearby cities, flights across Europe, and
 * outages (no finder device around). Random access: a block is planned from its index only.
 */
export class TrackerMovement {
  readonly #seed: number
  readonly #tracker: number
  readonly #phase: number
  readonly #home: City
  readonly #gaps: boolean
  readonly #blocks = new Map<number, Block>()

  constructor(seed: number, trackerHash: number, options: { gaps: boolean }) {
    this.#seed = seed
    this.#tracker = trackerHash
    this.#gaps = options.gaps
    this.#phase = (hash32(seed, trackerHash, 1) % 96) * HOUR_MS
    this.#home = CITIES[hash32(seed, trackerHash, 2) % CITIES.length]!
  }

  get home(): City {
    return this.#home
  }

  /** Null when no report can exist: in a plane or out of reach of any finder device. */
  at(time: number): SimulatedPosition | null {
    const index = Math.floor((time - this.#phase) / BLOCK_MS)
    const block = this.#block(index)
    if (this.#gaps && block.outages.some((outage) => time >= outage.start && time < outage.end)) return null
    const segment = block.segments.find((candidate) => time < candidate.end) ?? block.segments.at(-1)!
    if (segment.kind === 'stay') {
      return {
        latitude: segment.latitude,
        longitude: segment.longitude,
        moving: false,
        place: segment.city.name,
        block: index,
      }
    }
    if (segment.kind === 'flight' && this.#gaps) return null
    const progress = Math.min(1, Math.max(0, (time - segment.start) / (segment.end - segment.start)))
    // Roads are not straight lines: bend the route sideways, most in the middle.
    const bend = Math.sin(progress * Math.PI) * segment.bend
    const dLat = segment.to.latitude - segment.from.latitude
    const dLon = segment.to.longitude - segment.from.longitude
    return {
      latitude: segment.from.latitude + dLat * progress - dLon * bend,
      longitude: segment.from.longitude + dLon * progress + dLat * bend,
      moving: true,
      place: `${segment.from.name} → ${segment.to.name}`,
      block: index,
    }
  }

  #startCity(index: number): City {
    // Mostly home: people live somewhere and travel from there.
    if (unit(this.#seed, this.#tracker, index, 3) < 0.6) return this.#home
    return CITIES[hash32(this.#seed, this.#tracker, index, 4) % CITIES.length]!
  }

  #block(index: number): Block {
    const cached = this.#blocks.get(index)
    if (cached) return cached
    const block = this.#plan(index)
    if (this.#blocks.size >= 256) this.#blocks.delete(this.#blocks.keys().next().value!)
    this.#blocks.set(index, block)
    return block
  }

  #plan(index: number): Block {
    const start = this.#phase + index * BLOCK_MS
    const end = start + BLOCK_MS
    const random = sequence(hash32(this.#seed, this.#tracker, index, 5))
    const target = this.#startCity(index + 1)
    const segments: Segment[] = []
    let city = this.#startCity(index)
    let time = start
    const stay = (from: number, to: number) => {
      // A place somewhere in town (up to ~4 km from the centre): home, hotel, office.
      const distance = random.between(0.2, 4) / 111
      const angle = random.between(0, 2 * Math.PI)
      segments.push({
        kind: 'stay',
        start: from,
        end: to,
        city,
        latitude: city.latitude + distance * Math.cos(angle),
        longitude: city.longitude + (distance * Math.sin(angle)) / Math.cos((city.latitude * Math.PI) / 180),
      })
    }
    for (;;) {
      const stayEnd = time + random.between(MIN_STAY_MS, MAX_STAY_MS)
      const next = random.pick(NEIGHBOURS.get(city)!.slice(0, 5))
      const leg = travelMs(city, next)
      if (stayEnd + leg + travelMs(next, target) + MIN_STAY_MS > end) {
        stay(time, end - travelMs(city, target))
        time = end - travelMs(city, target)
        break
      }
      stay(time, stayEnd)
      segments.push(travel(city, next, stayEnd, stayEnd + leg, random.between(-0.15, 0.15)))
      time = stayEnd + leg
      city = next
    }
    if (city !== target) segments.push(travel(city, target, time, end, random.between(-0.15, 0.15)))

    const outages: Block['outages'] = []
    const outageCount = Math.floor(random.between(0, 3))
    for (let i = 0; i < outageCount; i++) {
      const outageStart = random.between(start, end)
      outages.push({ start: outageStart, end: outageStart + random.between(HOUR_MS, 10 * HOUR_MS) })
    }
    return { start, end, segments, outages }
  }
}

function travelMs(from: City, to: City): number {
  if (from === to) return 0
  const km = distanceKm(from, to)
  // Driving at ~90 km/h on roads 25% longer than the straight line; flying with 3 h for airports.
  return km <= MAX_DRIVE_KM ? ((km * ROAD_FACTOR) / 90) * HOUR_MS : (3 + km / 750) * HOUR_MS
}

function travel(from: City, to: City, start: number, end: number, bend: number): Segment {
  return { kind: distanceKm(from, to) <= MAX_DRIVE_KM ? 'drive' : 'flight', start, end, from, to, bend }
}
