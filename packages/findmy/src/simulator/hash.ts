/**
 * Deterministic pseudo-randomness for the simulator: every decision is a pure function of the seed
 * and of where it is made (tracker, slot, purpose), so any report can be rebuilt on its own and
 * repeated polls return identical bytes.
 */

/** A 32-bit hash of integers (murmur3-style mixing). Values may be any safe integer. */
export function hash32(...values: number[]): number {
  let h = 0x9e3779b9
  for (const value of values) {
    const low = value >>> 0
    const high = Math.floor(value / 0x1_0000_0000) >>> 0
    h = mix(h, low)
    if (high !== 0) h = mix(h, high)
  }
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

function mix(h: number, k: number): number {
  let x = Math.imul(k, 0xcc9e2d51)
  x = (x << 15) | (x >>> 17)
  x = Math.imul(x, 0x1b873593)
  const y = h ^ x
  return (Math.imul((y << 13) | (y >>> 19), 5) + 0xe6546b64) | 0
}

/** A uniform number in [0, 1). */
export function unit(...values: number[]): number {
  return hash32(...values) / 0x1_0000_0000
}

/** FNV-1a of a string, to turn ids into hash inputs. */
export function stringHash32(text: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193)
  return h >>> 0
}

/** A small seeded generator (mulberry32) for sequences, e.g. one itinerary block. */
export function sequence(seed: number): {
  next(): number
  between(min: number, max: number): number
  pick<T>(items: readonly T[]): T
} {
  let state = seed >>> 0
  const next = () => {
    state = (state + 0x6d2b79f5) | 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 0x1_0000_0000
  }
  return {
    next,
    between: (min, max) => min + next() * (max - min),
    pick: (items) => items[Math.floor(next() * items.length)]!,
  }
}
