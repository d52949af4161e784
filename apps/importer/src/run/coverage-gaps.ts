import type { NewCoverageGap } from '@tracker/db'

/**
 * How many reports the endpoint gives per key at most: configured, or learnt ('auto': the most one
 * key got in one answer in this run and the last runs). Since 2026 Apple keeps only each key's latest
 * few reports, so every active key's answer stops at the same number: that plateau is the limit.
 */
export type EndpointLimit = number | 'auto'

/** What one answer held for one key: how many reports, and the oldest one's time (clear-text header). */
export interface KeyAnswer {
  count: number
  oldest: Date
}

export interface GapCandidate {
  hashedAdvKey: string
  trackerId: string
  /** The newest report stored for the key before this answer. */
  newestStored: Date | null
  answer: KeyAnswer
}

/**
 * The rule, written once: an answer as full as the endpoint gives (at least `limit` reports, and a
 * limit of at least 2, so a key that reports once is never "full") whose oldest report is newer than
 * the newest one stored for that key may hide dropped reports between the two. Nothing stored yet
 * (a new key, or none within the endpoint's window) says nothing about what came before.
 */
export function coverageGap(
  candidate: GapCandidate,
  limit: number,
): Omit<NewCoverageGap, 'import_run_id'> | null {
  const { newestStored, answer } = candidate
  if (limit < 2 || answer.count < limit || newestStored === null) return null
  if (answer.oldest.getTime() <= newestStored.getTime()) return null
  return {
    tracker_id: candidate.trackerId,
    hashed_adv_key: candidate.hashedAdvKey,
    gap_from: newestStored,
    gap_to: answer.oldest,
    reports_returned: answer.count,
    endpoint_limit: limit,
  }
}

/** Per key of an answer: how many reports it held and the oldest one's time. */
export function answersByKey(
  reports: Iterable<{ hashedAdvKey: string; timestamp: Date }>,
): Map<string, KeyAnswer> {
  const byKey = new Map<string, KeyAnswer>()
  for (const { hashedAdvKey, timestamp } of reports) {
    const seen = byKey.get(hashedAdvKey)
    if (!seen) byKey.set(hashedAdvKey, { count: 1, oldest: timestamp })
    else {
      seen.count++
      if (timestamp < seen.oldest) seen.oldest = timestamp
    }
  }
  return byKey
}

/**
 * The limit a run applies: the configured one, or (auto) the most reports one key got in one answer
 * in the last runs and so far in this one. Answers are observed before their gaps are judged, so the
 * first full answers already teach it.
 */
export class EndpointLimitTracker {
  readonly #configured: EndpointLimit
  readonly #recentMax: number
  #runMax = 0

  constructor(configured: EndpointLimit, recentMax: number) {
    this.#configured = configured
    this.#recentMax = recentMax
  }

  observe(answers: ReadonlyMap<string, KeyAnswer>): void {
    for (const answer of answers.values()) if (answer.count > this.#runMax) this.#runMax = answer.count
  }

  /** The most reports one key got in one answer in this run. */
  get runMax(): number {
    return this.#runMax
  }

  get limit(): number {
    return this.#configured === 'auto' ? Math.max(this.#recentMax, this.#runMax) : this.#configured
  }
}
