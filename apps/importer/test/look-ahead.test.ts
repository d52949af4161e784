import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import { lookAhead } from '../src/run/look-ahead.ts'

/** A source of 0..n-1 that records what was pulled and whether it was closed. */
function numbers(n: number, options: { failAt?: number } = {}) {
  const state = { pulled: [] as number[], closed: false }
  async function* source() {
    try {
      for (let i = 0; i < n; i++) {
        await sleep(1)
        if (i === options.failAt) throw new Error(`source failed at ${i}`)
        state.pulled.push(i)
        yield i
      }
    } finally {
      state.closed = true
    }
  }
  return { state, source: source() }
}

describe('lookAhead', () => {
  it('yields in source order while later items are pulled and prepared during the consumer’s work', async () => {
    const { state, source } = numbers(8)
    const seen: number[] = []
    const aheadWhileHeld: number[] = []
    // Earlier items take longer to prepare: results must still come in order.
    const prepare = async (i: number) => {
      await sleep(10 - i)
      return i * 10
    }
    for await (const value of lookAhead(source, prepare, 2)) {
      seen.push(value)
      await sleep(15) // the consumer's own work: the source must move on meanwhile
      aheadWhileHeld.push(state.pulled.length - 1 - value / 10)
    }
    expect(seen).toEqual([0, 10, 20, 30, 40, 50, 60, 70])
    // While an item is held, up to `depth` later ones are pulled (bounded), and at least one is.
    expect(Math.max(...aheadWhileHeld)).toBeLessThanOrEqual(2)
    expect(aheadWhileHeld.slice(0, 6).every((n) => n >= 1)).toBe(true)
    expect(state.closed).toBe(true)
  })

  it('a failing prepare reaches the consumer in its place, after every earlier result', async () => {
    const { source } = numbers(5)
    const seen: number[] = []
    const run = async () => {
      for await (const value of lookAhead(
        source,
        async (i) => {
          // Item 2 fails at once, before items 0 and 1 are done.
          if (i === 2) throw new Error('prepare failed at 2')
          await sleep(20)
          return i
        },
        3,
      ))
        seen.push(value)
    }
    await expect(run()).rejects.toThrow('prepare failed at 2')
    expect(seen).toEqual([0, 1])
  })

  it('a failing source reaches the consumer after the items before it', async () => {
    const { state, source } = numbers(5, { failAt: 3 })
    const seen: number[] = []
    const run = async () => {
      for await (const value of lookAhead(source, async (i) => i, 2)) seen.push(value)
    }
    await expect(run()).rejects.toThrow('source failed at 3')
    expect(seen).toEqual([0, 1, 2])
    expect(state.closed).toBe(true)
  })

  it('a consumer that stops leaves nothing running: work in flight is awaited and dropped, the source closed', async () => {
    const { state, source } = numbers(10)
    const started: number[] = []
    const finished: number[] = []
    for await (const value of lookAhead(
      source,
      async (i) => {
        started.push(i)
        await sleep(30)
        finished.push(i)
        return i
      },
      2,
    )) {
      if (value === 1) break
    }
    // Item 2 (and 3, if it arrived in time) was being prepared ahead: it ran to its end before the
    // loop returned, and nothing was pulled beyond the look-ahead.
    expect(started.slice(0, 3)).toEqual([0, 1, 2])
    expect(finished).toEqual(started)
    expect(state.pulled.length).toBeLessThanOrEqual(4)
    expect(state.closed).toBe(true)
  })

  it('an item that arrives after the consumer left is not prepared', async () => {
    let pulls = 0
    async function* slow() {
      for (let i = 0; ; i++) {
        pulls++
        await sleep(i === 0 ? 0 : 30)
        yield i
      }
    }
    const prepared: number[] = []
    for await (const value of lookAhead(
      slow(),
      async (i) => {
        prepared.push(i)
        return i
      },
      2,
    ))
      if (value === 0) break
    // Item 1 was being fetched when the consumer left: it was awaited, not prepared.
    expect(pulls).toBe(2)
    expect(prepared).toEqual([0])
  })
})
