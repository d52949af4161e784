/**
 * timestamptz as PostgreSQL writes it with DateStyle ISO ("2026-12-03 12:34:56.789123+00", the
 * offset as +HH, +HH:MM or +HH:MM:SS), read into a Date without the Date parser: new Date(text)
 * took 360 ns a value, two of them a raw report, in an export that reads a million. The result is
 * what the engine's own parser (new Date(text)) gives: fractions beyond milliseconds dropped,
 * offsets applied. Anything else (BC years, years past 9999, infinity, offsets in seconds, other
 * DateStyles) is left to `fallback`.
 */
export function parseTimestamptzText(text: string, fallback: (text: string) => Date): Date {
  const n = text.length
  if (n < 22 || text.charCodeAt(4) !== DASH || text.charCodeAt(7) !== DASH || text.charCodeAt(10) !== SPACE)
    return fallback(text)
  const year = digits(text, 0, 4)
  const month = digits(text, 5, 2)
  const day = digits(text, 8, 2)
  const hour = digits(text, 11, 2)
  const minute = digits(text, 14, 2)
  const second = digits(text, 17, 2)
  if (
    year < 0 ||
    month < 1 ||
    month > 12 ||
    day < 1 ||
    day > 31 ||
    hour < 0 ||
    hour > 23 ||
    minute < 0 ||
    minute > 59 ||
    second < 0 ||
    second > 59 ||
    text.charCodeAt(13) !== COLON ||
    text.charCodeAt(16) !== COLON
  )
    return fallback(text)
  let at = 19
  let milli = 0
  if (text.charCodeAt(at) === DOT) {
    let scale = 100
    at++
    while (at < n) {
      const d = text.charCodeAt(at) - ZERO
      if (d < 0 || d > 9) break
      milli += d * scale
      scale /= 10
      at++
    }
    if (at === 20) return fallback(text)
    milli = Math.floor(milli)
  }
  const sign = text.charCodeAt(at)
  // "+HH" or "+HH:MM" and nothing after it; seconds in the offset and the rest: the fallback's.
  if ((sign !== PLUS && sign !== MINUS) || (n !== at + 3 && n !== at + 6)) return fallback(text)
  const offsetHours = digits(text, at + 1, 2)
  const offsetMinutes = n === at + 6 && text.charCodeAt(at + 3) === COLON ? digits(text, at + 4, 2) : 0
  if (offsetHours < 0 || offsetMinutes < 0) return fallback(text)
  const offsetMs = (sign === PLUS ? 1 : -1) * (offsetHours * 60 + offsetMinutes) * 60_000
  const ms = Date.UTC(year, month - 1, day, hour, minute, second, milli) - offsetMs
  // Years below 100 are taken as 19xx by Date.UTC; PostgreSQL writes them with four digits anyway.
  if (year < 100 || Number.isNaN(ms)) return fallback(text)
  return new Date(ms)
}

const ZERO = 48
const DASH = 45
const SPACE = 32
const COLON = 58
const DOT = 46
const PLUS = 43
const MINUS = 45

/** The decimal number of `length` digits at `at`, or -1 where a character is not a digit. */
function digits(text: string, at: number, length: number): number {
  let value = 0
  for (let i = at; i < at + length; i++) {
    const d = text.charCodeAt(i) - ZERO
    if (d < 0 || d > 9) return -1
    value = value * 10 + d
  }
  return value
}
