/**
 * Durations in configuration are written the way an operator thinks of them ("10 days", "24h",
 * "90 min") and handled internally as milliseconds. SQL receives them as whole seconds so that
 * TimescaleDB stores an exact interval.
 */
const UNIT_MS: Record<string, number> = {
  ms: 1,
  millisecond: 1,
  milliseconds: 1,
  s: 1000,
  sec: 1000,
  second: 1000,
  seconds: 1000,
  m: 60_000,
  min: 60_000,
  minute: 60_000,
  minutes: 60_000,
  h: 3_600_000,
  hour: 3_600_000,
  hours: 3_600_000,
  d: 86_400_000,
  day: 86_400_000,
  days: 86_400_000,
  w: 604_800_000,
  week: 604_800_000,
  weeks: 604_800_000,
}

export const HOUR_MS = 3_600_000
export const DAY_MS = 86_400_000

export class InvalidDurationError extends Error {
  readonly code = 'INVALID_DURATION'
  readonly input: string
  constructor(input: string) {
    super(`"${input}" is not a duration: write a number and a unit, e.g. "10 days", "24 hours", "30 min"`)
    this.input = input
  }
}

export function parseDuration(input: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*$/i.exec(input)
  if (!match) throw new InvalidDurationError(input)
  const unit = UNIT_MS[match[2]!.toLowerCase()]
  if (unit === undefined) throw new InvalidDurationError(input)
  const ms = Number(match[1]) * unit
  if (!Number.isFinite(ms) || ms <= 0) throw new InvalidDurationError(input)
  return ms
}

/** A readable form for logs and error messages: the largest unit that divides the value. */
export function formatDuration(ms: number): string {
  for (const [unit, size] of [
    ['day', DAY_MS],
    ['hour', HOUR_MS],
    ['minute', 60_000],
    ['second', 1000],
  ] as const) {
    if (ms % size === 0) {
      const n = ms / size
      return `${n} ${unit}${n === 1 ? '' : 's'}`
    }
  }
  return `${ms} ms`
}

/** The SQL interval literal for a duration, exact to the millisecond. */
export function toSqlInterval(ms: number): string {
  return `${ms / 1000} seconds`
}
