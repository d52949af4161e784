import { setTimeout as sleep } from 'node:timers/promises'
import type { Database, Kysely } from '@tracker/db'
import type { Logger } from 'pino'
import type { BridgeConfig } from '../env.ts'
import { homeAssistantAttributes, homeAssistantConfig } from '../formats/home-assistant.ts'
import { ownTracksCard, ownTracksLocation } from '../formats/owntracks.ts'
import type { BridgeTopics } from '../formats/topics.ts'
import type { BridgeMetrics, MessageFormat } from '../http/bridge-metrics.ts'
import type { BrokerConnection } from '../mqtt/broker-connection.ts'
import { hasPosition, readTrackerStates, type TrackerState } from '../trackers/tracker-state.ts'

/** What the bridge has published of a tracker, kept retained on `<prefix>/<id>/published`. */
interface PublishedRecord {
  /** Report time (ms) of the position published last; null: none yet. */
  lastSeen: number | null
  /** An entity (HA config, OwnTracks card and location) is out there: the tracker was active. */
  entity: boolean
}

interface Job {
  all: boolean
  ids: Set<string>
  /** Publish every message again even if the broker had it already (after a (re)connect). */
  force: boolean
}

const CHUNK = 200

/**
 * Turns tracker changes into MQTT messages. One pass at a time: requests that arrive while a pass
 * runs are merged into the next one (per tracker; "all" swallows the rest), so a tracker's messages
 * go out in the order its state changed. Each pass re-reads the named trackers (notifications carry
 * ids only) and publishes what differs from what the broker acknowledged last.
 *
 * Ordering: a position is published only if its report time is not older than the one published
 * last for that tracker (kept in memory and, retained, on `<prefix>/<id>/published`, read back at
 * start), so a late report, or a hand-edited last_seen_at, never moves "where it is now" back in
 * time; it reaches the history, not the bridge.
 */
export class TrackerPublisher {
  readonly #db: Kysely<Database>
  readonly #broker: BrokerConnection
  readonly #topics: BridgeTopics
  readonly #config: BridgeConfig
  readonly #metrics: BridgeMetrics
  readonly #logger: Logger
  readonly #published = new Map<string, PublishedRecord>()
  /** Payload the broker acknowledged last on each topic ('' = removed). */
  readonly #sent = new Map<string, string>()
  #pending: Job = { all: false, ids: new Set(), force: false }
  #running: Promise<void> | null = null
  #ready = false
  #stopped = false
  #failures = 0
  #waiters: (() => void)[] = []
  #lastPublishAt: Date | null = null

  constructor(options: {
    db: Kysely<Database>
    broker: BrokerConnection
    topics: BridgeTopics
    config: BridgeConfig
    metrics: BridgeMetrics
    logger: Logger
  }) {
    this.#db = options.db
    this.#broker = options.broker
    this.#topics = options.topics
    this.#config = options.config
    this.#metrics = options.metrics
    this.#logger = options.logger
  }

  /** When the broker last acknowledged a message. */
  get lastPublishAt(): Date | null {
    return this.#lastPublishAt
  }

  /** Trackers with an entity out there. */
  get trackerCount(): number {
    let n = 0
    for (const record of this.#published.values()) if (record.entity) n++
    return n
  }

  /**
   * Loads what an earlier run published (the retained `published` topics) before the first pass,
   * so nothing older is published and trackers deleted meanwhile are removed.
   */
  restore(retained: Map<string, Buffer>): void {
    for (const [topic, payload] of retained) {
      const id = topic.split('/').at(-2)
      if (!id) continue
      try {
        const parsed = JSON.parse(payload.toString('utf8')) as { last_seen?: string | null; entity?: boolean }
        const lastSeen = parsed.last_seen ? Date.parse(parsed.last_seen) : null
        this.#published.set(id, {
          lastSeen: lastSeen !== null && Number.isFinite(lastSeen) ? lastSeen : null,
          entity: parsed.entity === true,
        })
      } catch {
        this.#logger.warn({ event: 'restore_skipped', topic }, 'unreadable bookkeeping message; ignored')
      }
    }
    this.#ready = true
    this.#metrics.trackersPublished.set(this.trackerCount)
    this.#logger.info({ event: 'restored', trackers: this.#published.size }, 'read what was published before')
    this.#kick()
  }

  /** Asks for a pass over some trackers, or all; `force` republishes even unchanged messages. */
  request(ids: readonly string[] | 'all', options: { force?: boolean } = {}): void {
    if (ids === 'all') this.#pending.all = true
    else for (const id of ids) this.#pending.ids.add(id)
    if (options.force) this.#pending.force = true
    this.#kick()
  }

  /** The broker connection is back (or up): passes can run again. */
  resume(): void {
    this.#kick()
  }

  /** Resolves once nothing is pending and no pass runs (while the broker is connected). */
  idle(): Promise<void> {
    if (!this.#hasPending() && !this.#running) return Promise.resolve()
    return new Promise((resolve) => this.#waiters.push(resolve))
  }

  async stop(): Promise<void> {
    this.#stopped = true
    await this.#running
  }

  #hasPending(): boolean {
    return this.#pending.all || this.#pending.ids.size > 0
  }

  #kick(): void {
    if (this.#running || this.#stopped || !this.#ready || !this.#broker.connected || !this.#hasPending()) {
      return
    }
    this.#running = this.#loop().finally(() => {
      this.#running = null
      if (this.#hasPending()) this.#kick()
      if (!this.#hasPending() && !this.#running) {
        for (const resolve of this.#waiters.splice(0)) resolve()
      }
    })
  }

  async #loop(): Promise<void> {
    while (this.#hasPending() && this.#broker.connected && !this.#stopped) {
      const job = this.#pending
      this.#pending = { all: false, ids: new Set(), force: false }
      try {
        await this.#pass(job)
        this.#failures = 0
      } catch (error) {
        // Keep the work: merged back, it runs again (after a reconnect, the forced pass covers it).
        if (job.all) this.#pending.all = true
        for (const id of job.ids) this.#pending.ids.add(id)
        if (job.force) this.#pending.force = true
        this.#metrics.publishFailures.inc()
        this.#logger.warn(
          { event: 'pass_failed', err: error },
          `publishing failed: ${(error as Error).message}`,
        )
        if (!this.#broker.connected) return
        this.#failures += 1
        await sleep(Math.min(500 * 2 ** (this.#failures - 1), 30_000))
      }
    }
  }

  async #pass(job: Job): Promise<void> {
    const started = performance.now()
    const states = await readTrackerStates(this.#db, job.all ? 'all' : [...job.ids])
    const readMs = performance.now() - started
    const present = new Set(states.map((s) => s.id))
    // Deleted trackers: named by a notification but gone, or (a full pass) published but gone.
    const gone = job.all
      ? [...this.#published.keys()].filter((id) => !present.has(id))
      : [...job.ids].filter((id) => !present.has(id))
    this.#metrics.syncs.inc({ scope: job.all ? 'all' : 'trackers' })
    let messages = 0
    const work: (() => Promise<number>)[] = [
      ...states.map((state) => () => this.#publishTracker(state, job.force)),
      ...gone.map((id) => () => this.#removeTracker(id, true)),
    ]
    for (let i = 0; i < work.length; i += CHUNK) {
      const counts = await Promise.all(work.slice(i, i + CHUNK).map((run) => run()))
      messages += counts.reduce((a, b) => a + b, 0)
    }
    this.#metrics.trackersPublished.set(this.trackerCount)
    this.#logger.debug(
      {
        event: 'pass',
        scope: job.all ? 'all' : 'trackers',
        trackers: states.length,
        removed: gone.length,
        messages,
        force: job.force,
        readMs: Math.round(readMs),
        durationMs: Math.round(performance.now() - started),
      },
      'published tracker changes',
    )
  }

  /**
   * Publishes one tracker's messages in order, each after the previous one's PUBACK (trackers run
   * side by side). Not pipelined: brokers that leave Nagle's algorithm on (Mosquitto's default,
   * `set_tcp_nodelay false`) hold the second of two PUBACKs in flight until the client's delayed ACK,
   * 40 ms on Linux; one at a time a tracker's four messages take under a millisecond locally.
   * Resolves with how many were sent.
   */
  async #publishTracker(state: TrackerState, force: boolean): Promise<number> {
    const record = this.#published.get(state.id)
    if (!state.active) return record?.entity ? this.#removeTracker(state.id, false) : 0
    const messages: [MessageFormat, string, string][] = []
    const send = (format: MessageFormat, topic: string, payload: unknown) =>
      messages.push([format, topic, JSON.stringify(payload)])
    const { homeAssistant, ownTracks } = this.#config
    if (homeAssistant.enabled) {
      send(
        'homeassistant',
        this.#topics.homeAssistantConfig(state.id),
        homeAssistantConfig(state, this.#topics),
      )
    }
    let lastSeen = record?.lastSeen ?? null
    if (hasPosition(state)) {
      const seen = state.lastSeenAt.getTime()
      if (lastSeen !== null && seen < lastSeen) {
        this.#metrics.olderPositionsSkipped.inc()
        this.#logger.info(
          {
            event: 'older_position_skipped',
            trackerId: state.id,
            lastSeenAt: state.lastSeenAt.toISOString(),
            published: new Date(lastSeen).toISOString(),
          },
          'a position older than the one published is not published',
        )
      } else {
        lastSeen = seen
        if (homeAssistant.enabled) {
          send(
            'homeassistant',
            this.#topics.homeAssistantAttributes(state.id),
            homeAssistantAttributes(state),
          )
        }
        if (ownTracks.enabled) {
          send('owntracks', this.#topics.ownTracksCard(state.id), ownTracksCard(state))
          send('owntracks', this.#topics.ownTracksLocation(state.id), ownTracksLocation(state))
        }
      }
    }
    send('bridge', this.#topics.published(state.id), {
      last_seen: lastSeen === null ? null : new Date(lastSeen).toISOString(),
      entity: true,
    })
    let sent = 0
    for (const [format, topic, payload] of messages)
      if (await this.#send(format, topic, payload, force)) sent++
    this.#published.set(state.id, { lastSeen, entity: true })
    return sent
  }

  /**
   * Removes a tracker's entity: an empty retained payload on its discovery config (Home Assistant
   * removes the entity), attributes, OwnTracks card and location. A deleted tracker's bookkeeping
   * goes too; a deactivated one's stays (its last position time still bounds what may follow).
   */
  async #removeTracker(id: string, deleted: boolean): Promise<number> {
    const record = this.#published.get(id)
    const messages: [MessageFormat, string, string][] = []
    const clear = (format: MessageFormat, topic: string) => messages.push([format, topic, ''])
    if (this.#config.homeAssistant.enabled) {
      clear('homeassistant', this.#topics.homeAssistantConfig(id))
      clear('homeassistant', this.#topics.homeAssistantAttributes(id))
    }
    if (this.#config.ownTracks.enabled) {
      clear('owntracks', this.#topics.ownTracksLocation(id))
      clear('owntracks', this.#topics.ownTracksCard(id))
    }
    if (deleted) clear('bridge', this.#topics.published(id))
    else {
      messages.push([
        'bridge',
        this.#topics.published(id),
        JSON.stringify({
          last_seen: record?.lastSeen == null ? null : new Date(record.lastSeen).toISOString(),
          entity: false,
        }),
      ])
    }
    let sent = 0
    for (const [format, topic, payload] of messages)
      if (await this.#send(format, topic, payload, true)) sent++
    if (deleted) this.#published.delete(id)
    else this.#published.set(id, { lastSeen: record?.lastSeen ?? null, entity: false })
    this.#logger.info(
      { event: deleted ? 'tracker_removed' : 'tracker_deactivated', trackerId: id },
      'entity removed',
    )
    return sent
  }

  /** Publishes unless the broker acknowledged this very payload on this topic already (and not forced). */
  async #send(format: MessageFormat, topic: string, payload: string, force: boolean): Promise<boolean> {
    if (!force && this.#sent.get(topic) === payload) return false
    await this.#broker.publish(topic, payload)
    this.#sent.set(topic, payload)
    this.#metrics.messagesPublished.inc({ format })
    this.#lastPublishAt = new Date()
    this.#metrics.lastPublish.set(this.#lastPublishAt.getTime() / 1000)
    return true
  }
}
