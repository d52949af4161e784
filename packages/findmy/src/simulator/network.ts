import { type ReportFix, sealReport } from '../report.encrypt.ts'
import {
  type BatteryLevel,
  PAYLOAD_BYTES,
  PAYLOAD_BYTES_EXTENDED,
  statusWithBattery,
} from '../report.payload.ts'
import { EphemeralKeyStream, type EphemeralStep, ephemeralStep } from './ephemeral-keys.ts'
import { hash32, stringHash32, unit } from './hash.ts'
import { TrackerMovement } from './movement.ts'

const DAY_MS = 86_400_000
const MINUTE_MS = 60_000
/** Reports generated together: one field inversion and two short scalar multiplications per page. */
export const PAGE_SIZE = 128

export interface SimulatedTrackerInput {
  name?: string
  keys: ReadonlyArray<{ advertisementKey: Buffer; hashedAdvKey: string }>
}

export interface NetworkOptions {
  trackers: readonly SimulatedTrackerInput[]
  /** Same seed, same reports: movement, timing, ephemeral keys (default 1). */
  seed?: number
  /** While a finder device is around (default 96: one every 15 minutes). At most 86400. */
  reportsPerDay?: number
  /** How long the network keeps a report (default 7, like Apple). */
  days?: number
  /** How long a rotating tracker uses each of its keys (default 30, macless-haystack firmware). */
  rotationMinutes?: number
  /** Reports published 2-48 h after their timestamp, so they appear only on later polls (default 0.05). */
  lateArrivalShare?: number
  /** Reports in the newer 89-byte layout (default 0.5). */
  share89Byte?: number
  /** Reports that are tampered with, truncated, or decrypt to a position off the Earth (default 0). */
  corruptShare?: number
  /** Outages (no finder device around) and flights leave gaps (default true); false: a report every slot. */
  gaps?: boolean
  /** The real endpoint's quirk: one report per payload timestamp across all ids of a request (default false). */
  dedupeByTimestamp?: boolean
  /** Apple caps the reports per request; the newest are kept (default: no cap). */
  maxReportsPerRequest?: number
  /** Generated payloads kept in memory (default 2 million); older pages are rebuilt on demand. */
  cacheReports?: number
  /**
   * Apple since about April 2026: each key's answer holds only its newest N reports (by payload
   * timestamp), before the de-duplication quirk and the per-request cap (default: all).
   */
  latestPerKey?: number
  /** Apple since about April 2026: the request's `days` is ignored; the network's retention applies (default false). */
  ignoreDays?: boolean
  /** A request with several ids is answered for its first id only; the others get nothing (default false). */
  firstIdOnly?: boolean
}

export type Corruption = 'tampered' | 'truncated' | 'out_of_range'

/** A report as the simulator knows it: the payload and what it encrypts. */
export interface SimulatedReport {
  hashedAdvKey: string
  trackerIndex: number
  keyIndex: number
  /** The payload timestamp (whole seconds). */
  timestamp: Date
  /** When the network received it (ms since the Unix epoch): the entry's datePublished. */
  datePublished: number
  payload: string
  payloadLength: number
  fix: ReportFix
  batteryLevel: BatteryLevel | null
  corruption: Corruption | null
  late: boolean
  place: string
}

/** The entry the endpoint sends for a report. */
export interface ServedReport {
  id: string
  datePublished: number
  payload: string
  timestampSeconds: number
}

export interface NetworkStats {
  reportsGenerated: number
  pagesGenerated: number
  generationMs: number
  cachedReports: number
}

interface SlotPlan {
  timestampMs: number
  datePublished: number
  late: boolean
  payloadLength: 88 | 89
  corruption: Corruption | null
  fix: ReportFix
  batteryLevel: BatteryLevel | null
  place: string
}

interface TrackerState {
  index: number
  name: string
  hash: number
  keys: Array<{ advertisementKey: Buffer; hashedAdvKey: string; stream?: EphemeralKeyStream }>
  movement: TrackerMovement
  reportsBattery: boolean
  slotsPerKey: number
  rotationOffset: number
}

/**
 * The Find My network as the report endpoint sees it, without HTTP: which reports exist for which
 * key, when they were published, and their genuinely encrypted payloads. Everything is derived from
 * the seed and the slot a report falls in, so reports are generated lazily, cached, and identical on
 * every poll.
 */
export class SimulatedNetwork {
  readonly #seed: number
  readonly #reportsPerDay: number
  readonly #slotMs: number
  readonly #retentionDays: number
  readonly #rotationMs: number
  readonly #lateArrivalShare: number
  readonly #share89Byte: number
  readonly #corruptShare: number
  readonly #gaps: boolean
  readonly #dedupeByTimestamp: boolean
  readonly #maxReportsPerRequest: number
  readonly #latestPerKey: number
  readonly #ignoreDays: boolean
  readonly #firstIdOnly: boolean
  readonly #maxCachedPages: number
  readonly #step: EphemeralStep
  readonly #trackers: TrackerState[] = []
  readonly #keys = new Map<string, { tracker: TrackerState; keyIndex: number }>()
  readonly #pages = new Map<string, Array<string | null>>()
  readonly #stats: NetworkStats = {
    reportsGenerated: 0,
    pagesGenerated: 0,
    generationMs: 0,
    cachedReports: 0,
  }

  constructor(options: NetworkOptions) {
    this.#seed = options.seed ?? 1
    this.#reportsPerDay = options.reportsPerDay ?? 96
    if (!(this.#reportsPerDay > 0 && this.#reportsPerDay <= 86_400)) {
      throw new RangeError(
        `reportsPerDay must be between 1 and 86400 (one a second), got ${this.#reportsPerDay}`,
      )
    }
    this.#slotMs = DAY_MS / this.#reportsPerDay
    this.#retentionDays = positive('days', options.days ?? 7)
    this.#rotationMs = positive('rotationMinutes', options.rotationMinutes ?? 30) * MINUTE_MS
    this.#lateArrivalShare = share('lateArrivalShare', options.lateArrivalShare ?? 0.05)
    this.#share89Byte = share('share89Byte', options.share89Byte ?? 0.5)
    this.#corruptShare = share('corruptShare', options.corruptShare ?? 0)
    this.#gaps = options.gaps ?? true
    this.#dedupeByTimestamp = options.dedupeByTimestamp ?? false
    this.#maxReportsPerRequest = options.maxReportsPerRequest ?? Number.POSITIVE_INFINITY
    const latest = options.latestPerKey
    if (latest !== undefined && !(Number.isSafeInteger(latest) && latest >= 1)) {
      throw new RangeError(`latestPerKey must be a whole number of at least 1, got ${latest}`)
    }
    this.#latestPerKey = latest ?? Number.POSITIVE_INFINITY
    this.#ignoreDays = options.ignoreDays ?? false
    this.#firstIdOnly = options.firstIdOnly ?? false
    this.#maxCachedPages = Math.max(1, Math.ceil((options.cacheReports ?? 2_000_000) / PAGE_SIZE))
    this.#step = ephemeralStep(this.#seed)
    for (const tracker of options.trackers) this.addTracker(tracker)
  }

  get stats(): Readonly<NetworkStats> {
    return { ...this.#stats, cachedReports: this.#pages.size * PAGE_SIZE }
  }

  get trackerCount(): number {
    return this.#trackers.length
  }

  get keyCount(): number {
    return this.#keys.size
  }

  addTracker(input: SimulatedTrackerInput): void {
    if (input.keys.length === 0) throw new RangeError('a simulated tracker needs at least one key')
    for (const key of input.keys) {
      if (this.#keys.has(key.hashedAdvKey))
        throw new RangeError(`the key ${key.hashedAdvKey} is already simulated`)
    }
    // Identified by its first key, so adding trackers does not change the others' histories.
    const hash = stringHash32(input.keys[0]!.hashedAdvKey)
    const slotsPerKey = Math.max(1, Math.round(this.#rotationMs / this.#slotMs))
    const tracker: TrackerState = {
      index: this.#trackers.length,
      name: input.name ?? `Tracker ${this.#trackers.length + 1}`,
      hash,
      keys: input.keys.map((key) => ({
        advertisementKey: key.advertisementKey,
        hashedAdvKey: key.hashedAdvKey,
      })),
      movement: new TrackerMovement(this.#seed, hash, { gaps: this.#gaps }),
      reportsBattery: unit(this.#seed, hash, 20) < 0.7,
      slotsPerKey,
      rotationOffset: hash32(this.#seed, hash, 21) % (slotsPerKey * input.keys.length),
    }
    this.#trackers.push(tracker)
    tracker.keys.forEach((key, keyIndex) => {
      this.#keys.set(key.hashedAdvKey, { tracker, keyIndex })
    })
  }

  /** The ids of a request the network answers for: all of them, or only the first with `firstIdOnly`. */
  answeredIds(ids: readonly string[]): string[] {
    return this.#firstIdOnly ? ids.slice(0, 1) : [...ids]
  }

  /**
   * What the endpoint answers at `now` for `ids` and `days`: reports newer than now - days (and inside
   * the network's retention) that were already published, newest first, with the enabled quirks.
   */
  answer(ids: readonly string[], days: number, now: Date): ServedReport[] {
    let served = this.#collect(
      this.answeredIds(ids),
      this.#ignoreDays ? this.#retentionDays : days,
      now,
      this.#latestPerKey,
      (hashedAdvKey, _tracker, _keyIndex, _ordinal, plan, payload) => ({
        id: hashedAdvKey,
        datePublished: plan.datePublished,
        payload,
        timestampSeconds: plan.timestampMs / 1000,
      }),
    )
    if (this.#dedupeByTimestamp) {
      // mh_endpoint.py keys its result map by the payload timestamp: a later entry overwrites an
      // earlier one, whichever id it belongs to.
      const byTimestamp = new Map<number, ServedReport>()
      for (const report of served) byTimestamp.set(report.timestampSeconds, report)
      served = [...byTimestamp.values()]
    }
    served.sort((a, b) => b.timestampSeconds - a.timestampSeconds)
    return served.length > this.#maxReportsPerRequest ? served.slice(0, this.#maxReportsPerRequest) : served
  }

  /**
   * Ground truth: every report of `ids` (default: all keys) that exists at `now` for `days`: published
   * and inside the network's retention, oldest first. It ignores the endpoint's quirks (`latestPerKey`,
   * `ignoreDays`, `firstIdOnly`, the de-duplication and the per-request cap); `servedReports` applies them.
   */
  visibleReports(options: { ids?: readonly string[]; days?: number; now: Date }): SimulatedReport[] {
    return this.#reports(options, Number.POSITIVE_INFINITY, false)
  }

  /**
   * What polling each of `ids` (default: all keys) on its own at `now` for `days` gets, oldest first:
   * `visibleReports` with `latestPerKey`, `ignoreDays` and the per-request cap applied. The reports in
   * `visibleReports` but not here are the ones such polls cannot see.
   */
  servedReports(options: { ids?: readonly string[]; days?: number; now: Date }): SimulatedReport[] {
    // One key's reports have distinct timestamps, so the cap of a single-id answer is one more per-key limit.
    return this.#reports(options, Math.min(this.#latestPerKey, this.#maxReportsPerRequest), this.#ignoreDays)
  }

  #reports(
    options: { ids?: readonly string[]; days?: number; now: Date },
    latestPerKey: number,
    ignoreDays: boolean,
  ): SimulatedReport[] {
    const reports = this.#collect(
      options.ids ?? [...this.#keys.keys()],
      ignoreDays ? this.#retentionDays : (options.days ?? this.#retentionDays),
      options.now,
      latestPerKey,
      (hashedAdvKey, tracker, keyIndex, _ordinal, plan, payload) => ({
        hashedAdvKey,
        trackerIndex: tracker.index,
        keyIndex,
        timestamp: new Date(plan.timestampMs),
        datePublished: plan.datePublished,
        payload,
        payloadLength: Buffer.byteLength(payload, 'base64'),
        fix: plan.fix,
        batteryLevel: plan.batteryLevel,
        corruption: plan.corruption,
        late: plan.late,
        place: plan.place,
      }),
    )
    return reports.sort((a, b) => a.timestamp.getTime() - b.timestamp.getTime())
  }

  /** The reports of each id inside the window, at most `latestPerKey` per id (its newest), oldest first per id. */
  #collect<T>(
    ids: readonly string[],
    days: number,
    now: Date,
    latestPerKey: number,
    make: (
      hashedAdvKey: string,
      tracker: TrackerState,
      keyIndex: number,
      ordinal: number,
      plan: SlotPlan,
      payload: string,
    ) => T,
  ): T[] {
    const out: T[] = []
    const nowMs = now.getTime()
    const effectiveDays = Math.min(days, this.#retentionDays)
    if (!(effectiveDays > 0)) return out
    // As mh_endpoint.py: keep timestamps strictly after now - days, in whole seconds.
    const startSeconds = Math.floor(nowMs / 1000) - Math.round(effectiveDays * 86_400)
    const firstSlot = this.#slotAt(startSeconds * 1000)
    const lastSlot = this.#slotAt(nowMs)
    for (const id of new Set(ids)) {
      const entry = this.#keys.get(id)
      if (!entry) continue
      const { tracker, keyIndex } = entry
      const found: Array<{ ordinal: number; plan: SlotPlan }> = []
      for (const { slot, ordinal } of this.#ordinals(tracker, keyIndex, firstSlot, lastSlot)) {
        const plan = this.#plan(tracker, slot, ordinal)
        if (!plan || plan.timestampMs / 1000 <= startSeconds || plan.datePublished > nowMs) continue
        found.push({ ordinal, plan })
      }
      // Slots come in order and a later slot has a later timestamp: the newest are the last ones.
      // Only these are encrypted, so a small latestPerKey also saves generating the older pages.
      const kept = found.length > latestPerKey ? found.slice(found.length - latestPerKey) : found
      for (const { ordinal, plan } of kept) {
        const payload = this.#payload(tracker, keyIndex, ordinal)
        if (payload !== null) out.push(make(id, tracker, keyIndex, ordinal, plan, payload))
      }
    }
    return out
  }

  #slotStart(slot: number): number {
    return Math.floor(slot * this.#slotMs)
  }

  #slotAt(time: number): number {
    let slot = Math.floor(time / this.#slotMs)
    while (this.#slotStart(slot + 1) <= time) slot++
    while (this.#slotStart(slot) > time) slot--
    return slot
  }

  /** The slots of one key between two slots: keys take turns, slotsPerKey slots each. */
  *#ordinals(tracker: TrackerState, keyIndex: number, firstSlot: number, lastSlot: number) {
    const s = tracker.slotsPerKey
    const cycle = s * tracker.keys.length
    const offset = tracker.rotationOffset
    for (let c = Math.floor((firstSlot + offset) / cycle); c * cycle - offset <= lastSlot; c++) {
      for (let j = 0; j < s; j++) {
        const slot = c * cycle + keyIndex * s + j - offset
        if (slot >= firstSlot && slot <= lastSlot) yield { slot, ordinal: c * s + j }
      }
    }
  }

  #slotOfOrdinal(tracker: TrackerState, keyIndex: number, ordinal: number): number {
    const s = tracker.slotsPerKey
    return (
      Math.floor(ordinal / s) * s * tracker.keys.length +
      keyIndex * s +
      (ordinal % s) -
      tracker.rotationOffset
    )
  }

  /** Everything about the report of one slot except its payload; null when there is none. */
  #plan(tracker: TrackerState, slot: number, ordinal: number): SlotPlan | null {
    const seed = this.#seed
    const t = tracker.hash
    // Timestamps are whole seconds, spread inside the slot and distinct between slots.
    const first = Math.ceil(this.#slotStart(slot) / 1000)
    const last = Math.ceil(this.#slotStart(slot + 1) / 1000) - 1
    const timestampMs = (first + (hash32(seed, t, slot, 30) % (last - first + 1))) * 1000
    if (this.#gaps && unit(seed, t, slot, 31) < 0.03) return null
    const position = tracker.movement.at(timestampMs)
    if (!position) return null
    const late = unit(seed, t, slot, 32) < this.#lateArrivalShare
    const delayMs = late
      ? Math.round((2 + unit(seed, t, slot, 33) * 46) * 3_600_000)
      : Math.round((20 + unit(seed, t, slot, 33) * 1_200) * 1000)
    const accuracy = position.moving
      ? 10 + (hash32(seed, t, slot, 34) % 140)
      : 5 + (hash32(seed, t, slot, 34) % 60)
    // A fix scatters around the true position about as much as its accuracy says.
    const scatter = (salt: number) => ((unit(seed, t, slot, salt) - 0.5) * accuracy) / 111_000
    const latitude = position.latitude + scatter(35)
    const longitude = position.longitude + scatter(36) / Math.cos((position.latitude * Math.PI) / 180)
    let batteryLevel: BatteryLevel | null = null
    let status = 0
    if (tracker.reportsBattery) {
      // The battery drains over ~40 blocks (160 days) and is then replaced.
      const age = (position.block + (t % 40)) % 40
      batteryLevel = age < 28 ? 'ok' : age < 35 ? 'medium' : age < 39 ? 'low' : 'critical'
      status = statusWithBattery(batteryLevel, ordinal)
    }
    const corrupt = unit(seed, t, slot, 37) < this.#corruptShare
    const kind = unit(seed, t, slot, 38)
    const corruption: Corruption | null = !corrupt
      ? null
      : kind < 0.6
        ? 'tampered'
        : kind < 0.85
          ? 'truncated'
          : 'out_of_range'
    return {
      timestampMs,
      datePublished: timestampMs + delayMs,
      late,
      payloadLength: unit(seed, t, slot, 39) < this.#share89Byte ? PAYLOAD_BYTES_EXTENDED : PAYLOAD_BYTES,
      corruption,
      fix: {
        timestamp: new Date(timestampMs),
        // A GPS glitch that still encrypts fine: only the range check catches it.
        latitude: corruption === 'out_of_range' ? 91 + unit(seed, t, slot, 40) * 100 : latitude,
        longitude,
        horizontalAccuracy: accuracy,
        confidence: 1 + (hash32(seed, t, slot, 41) % 3),
        status,
      },
      batteryLevel,
      place: position.place,
    }
  }

  #payload(tracker: TrackerState, keyIndex: number, ordinal: number): string | null {
    const page = Math.floor(ordinal / PAGE_SIZE)
    const cacheKey = `${tracker.keys[keyIndex]!.hashedAdvKey}|${page}`
    let payloads = this.#pages.get(cacheKey)
    if (payloads) {
      // Least recently used goes first: re-insert on use.
      this.#pages.delete(cacheKey)
    } else {
      payloads = this.#generatePage(tracker, keyIndex, page)
      if (this.#pages.size >= this.#maxCachedPages) this.#pages.delete(this.#pages.keys().next().value!)
    }
    this.#pages.set(cacheKey, payloads)
    return payloads[ordinal - page * PAGE_SIZE] ?? null
  }

  #generatePage(tracker: TrackerState, keyIndex: number, page: number): Array<string | null> {
    const started = performance.now()
    const key = tracker.keys[keyIndex]!
    key.stream ??= new EphemeralKeyStream(this.#seed, key.advertisementKey, this.#step)
    const first = page * PAGE_SIZE
    const material = key.stream.range(first, PAGE_SIZE)
    const payloads: Array<string | null> = new Array(PAGE_SIZE).fill(null)
    for (let i = 0; i < PAGE_SIZE; i++) {
      const ordinal = first + i
      const slot = this.#slotOfOrdinal(tracker, keyIndex, ordinal)
      const plan = this.#plan(tracker, slot, ordinal)
      if (!plan) continue
      const { ephemeralPoint, sharedX } = material[i]!
      let payload = sealReport(ephemeralPoint, sharedX, plan.fix, plan.payloadLength)
      if (plan.corruption === 'tampered') {
        const at = plan.payloadLength - 26 + (hash32(this.#seed, tracker.hash, slot, 42) % 26)
        payload[at] = (payload[at] ?? 0) ^ (1 + (hash32(this.#seed, tracker.hash, slot, 43) % 255))
      } else if (plan.corruption === 'truncated') {
        payload = payload.subarray(0, 40 + (hash32(this.#seed, tracker.hash, slot, 44) % 48))
      }
      payloads[i] = payload.toString('base64')
      this.#stats.reportsGenerated++
    }
    this.#stats.pagesGenerated++
    this.#stats.generationMs += performance.now() - started
    return payloads
  }
}

function share(name: string, value: number): number {
  if (!(value >= 0 && value <= 1)) throw new RangeError(`${name} must be between 0 and 1, got ${value}`)
  return value
}

function positive(name: string, value: number): number {
  if (!(value > 0) || !Number.isFinite(value))
    throw new RangeError(`${name} must be a positive number, got ${value}`)
  return value
}
