/** A transition as stored (alert_events) or as derived again from the reports. */
export interface EventInterval {
  occurredAfter: Date | null
  occurredBefore: Date
  confirmedAt: Date
}

export interface Reconciliation<S, D> {
  /** Derived with no stored counterpart: transitions newly known (a late report, or new reports). */
  create: D[]
  /** The same transition, its interval moved or narrowed by a late report: updated, not re-sent. */
  refine: { stored: S; derived: D }[]
  /** Stored with no derived counterpart: a late report showed it did not happen. */
  cancel: S[]
}

/** The span a transition covers: from the last report on the old side to the confirming one. */
function span(e: EventInterval): [number, number] {
  return [(e.occurredAfter ?? e.occurredBefore).getTime(), e.confirmedAt.getTime()]
}

const overlaps = (a: EventInterval, b: EventInterval) => {
  const [a0, a1] = span(a)
  const [b0, b1] = span(b)
  return a0 <= b1 && b0 <= a1
}

const sameInterval = (a: EventInterval, b: EventInterval) =>
  (a.occurredAfter?.getTime() ?? null) === (b.occurredAfter?.getTime() ?? null) &&
  a.occurredBefore.getTime() === b.occurredBefore.getTime() &&
  a.confirmedAt.getTime() === b.confirmedAt.getTime()

/**
 * Matches the stored live events of one rule, tracker and kind against the ones derived again from
 * the reports, both sorted by time: a stored event and a derived one whose spans overlap are the
 * same transition (a late report only moved where it happened). Each is matched at most once, in
 * time order, so two real transitions are never folded into one.
 */
export function reconcileEvents<S extends EventInterval, D extends EventInterval>(
  stored: readonly S[],
  derived: readonly D[],
): Reconciliation<S, D> {
  const result: Reconciliation<S, D> = { create: [], refine: [], cancel: [] }
  let s = 0
  for (const d of derived) {
    while (s < stored.length && span(stored[s]!)[1] < span(d)[0]) result.cancel.push(stored[s++]!)
    const candidate = stored[s]
    if (candidate && overlaps(candidate, d)) {
      if (!sameInterval(candidate, d)) result.refine.push({ stored: candidate, derived: d })
      s++
    } else result.create.push(d)
  }
  while (s < stored.length) result.cancel.push(stored[s++]!)
  return result
}
