import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { liveUrl, retryDelay } from '../src/api/live.ts'
import { coalesce } from '../src/coalesce.ts'

describe('the live connection', () => {
  it("goes to the page's own origin: ws: under http:, wss: under https:", () => {
    expect(liveUrl({ protocol: 'http:', host: '127.0.0.1:4000' })).toBe('ws://127.0.0.1:4000/graphql')
    expect(liveUrl({ protocol: 'https:', host: 'tracker.example' })).toBe('wss://tracker.example/graphql')
  })

  it('waits longer after each failed attempt, up to 30 s, with under a second of jitter', () => {
    const none = () => 0
    expect([0, 1, 2, 3, 4, 5, 6, 20].map((n) => retryDelay(n, none))).toEqual([
      1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000,
    ])
    expect(retryDelay(0, () => 0.999)).toBe(1_999)
  })
})

describe('coalesce', () => {
  beforeEach(() => vi.useFakeTimers())
  afterEach(() => vi.useRealTimers())

  it('runs once for a burst of requests, after the delay', async () => {
    const task = vi.fn()
    const work = coalesce(task, 250)
    for (let i = 0; i < 1_000; i++) work.schedule()
    expect(task).not.toHaveBeenCalled()
    await vi.advanceTimersByTimeAsync(250)
    expect(task).toHaveBeenCalledTimes(1)
  })

  it('runs once more after a run during which it was asked again', async () => {
    let finish = () => {}
    const task = vi.fn(() => new Promise<void>((resolve) => (finish = resolve)))
    const work = coalesce(task, 100)
    work.schedule()
    await vi.advanceTimersByTimeAsync(100)
    expect(task).toHaveBeenCalledTimes(1)
    work.schedule()
    work.schedule()
    await vi.advanceTimersByTimeAsync(1_000)
    expect(task).toHaveBeenCalledTimes(1)
    finish()
    await vi.advanceTimersByTimeAsync(100)
    expect(task).toHaveBeenCalledTimes(2)
  })

  it('does nothing once cancelled', async () => {
    const task = vi.fn()
    const work = coalesce(task, 100)
    work.schedule()
    work.cancel()
    await vi.advanceTimersByTimeAsync(1_000)
    expect(task).not.toHaveBeenCalled()
  })
})
