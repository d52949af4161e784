import { describe, expect, it } from 'vitest'
import type { Side } from '../src/evaluate/sides.ts'
import { deriveTransitions } from '../src/evaluate/transitions.ts'

const at = (minute: number) => new Date(Date.UTC(2026, 11, 1, 10, minute))
const reports = (...sides: (Side | null)[]) => sides.map((side, i) => ({ at: at(i * 10), side, report: i }))
const summary = (t: ReturnType<typeof deriveTransitions<number>>) =>
  t.map((x) => ({
    to: x.to,
    after: x.lastBefore?.report ?? null,
    first: x.firstAfter.report,
    by: x.confirmedBy.report,
  }))

describe('deriveTransitions', () => {
  it('places a confirmed change between the last report on the old side and the first on the new', () => {
    expect(
      summary(deriveTransitions(reports('in', 'in', 'out', 'out'), { confirmations: 2, initial: null })),
    ).toEqual([{ to: 'out', after: 1, first: 2, by: 3 }])
  })

  it('takes a lone stray report for jitter when a change needs two', () => {
    expect(
      deriveTransitions(reports('in', 'out', 'in', 'out', 'in'), { confirmations: 2, initial: null }),
    ).toEqual([])
    expect(
      summary(deriveTransitions(reports('in', 'out', 'in'), { confirmations: 1, initial: null })),
    ).toEqual([
      { to: 'out', after: 0, first: 1, by: 1 },
      { to: 'in', after: 1, first: 2, by: 2 },
    ])
  })

  it('skips reports that cannot tell, without breaking or confirming a change', () => {
    expect(
      summary(deriveTransitions(reports('in', 'out', null, 'out'), { confirmations: 2, initial: null })),
    ).toEqual([{ to: 'out', after: 0, first: 1, by: 3 }])
  })

  it('learns the first side without a transition unless an initial side is given', () => {
    expect(deriveTransitions(reports('in', 'in'), { confirmations: 1, initial: null })).toEqual([])
    expect(summary(deriveTransitions(reports('in', 'in'), { confirmations: 1, initial: 'out' }))).toEqual([
      { to: 'in', after: null, first: 0, by: 0 },
    ])
  })
})
