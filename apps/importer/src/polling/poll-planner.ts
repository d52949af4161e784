/** A tracker as the planner sees it. */
export interface PollCandidate {
  trackerId: string
  /** Its active keys: each batch of `batchSize` keys is one request. */
  keys: number
  nextPollAt: Date
}

/**
 * Which trackers to poll now: the due ones, most overdue first, as many as the requests still
 * available allow. Keys of several trackers share requests (up to `batchSize` ids each), so the
 * cost of a plan is ceil(its keys / batchSize).
 */
export function planPolls(
  candidates: readonly PollCandidate[],
  now: Date,
  options: { available: number; batchSize: number },
): PollCandidate[] {
  const due = candidates
    .filter((c) => c.nextPollAt.getTime() <= now.getTime() && c.keys > 0)
    .sort((a, b) => a.nextPollAt.getTime() - b.nextPollAt.getTime() || a.trackerId.localeCompare(b.trackerId))
  const plan: PollCandidate[] = []
  let keys = 0
  for (const candidate of due) {
    if (Math.ceil((keys + candidate.keys) / options.batchSize) > options.available) continue
    plan.push(candidate)
    keys += candidate.keys
  }
  return plan
}

/** When the planner next has something to do: the earliest next poll (null: nothing to poll). */
export function nextWake(candidates: readonly PollCandidate[]): Date | null {
  let earliest: number | null = null
  for (const c of candidates) {
    if (c.keys > 0 && (earliest === null || c.nextPollAt.getTime() < earliest))
      earliest = c.nextPollAt.getTime()
  }
  return earliest === null ? null : new Date(earliest)
}
