import { describe, expect, it } from 'vitest'
import { parseRetryAfter } from './http-post.ts'

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-12-17T10:00:00Z')

  it('reads delay-seconds', () => {
    expect(parseRetryAfter('120', now)).toBe(120_000)
    expect(parseRetryAfter(' 0 ', now)).toBe(0)
  })

  it('reads an HTTP-date as the time left until it (never negative)', () => {
    expect(parseRetryAfter('Thu, 17 Dec 2026 10:01:30 GMT', now)).toBe(90_000)
    expect(parseRetryAfter('Thu, 17 Dec 2026 09:00:00 GMT', now)).toBe(0)
  })

  it('ignores what it cannot read', () => {
    expect(parseRetryAfter(null, now)).toBeUndefined()
    expect(parseRetryAfter('soon', now)).toBeUndefined()
    expect(parseRetryAfter('-5', now)).toBeUndefined()
  })
})
