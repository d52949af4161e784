/**
 * One set of value parsers for both connection modes, so code sees the same JS types whichever
 * engine answers: int8 (counts) and numeric as numbers, timestamps as Dates in UTC.
 */
export const PG_OID = {
  int8: 20,
  numeric: 1700,
  timestamp: 1114,
  timestamptz: 1184,
} as const

function parseInt8(value: string): number {
  const n = Number(value)
  if (!Number.isSafeInteger(n)) throw new RangeError(`int8 value ${value} does not fit a JS number`)
  return n
}

/** timestamp without time zone is read as UTC: everything in Tracker is UTC. */
function parseTimestampAsUtc(value: string): Date {
  return new Date(`${value.replace(' ', 'T')}Z`)
}

export const textParsers: Record<number, (value: string) => unknown> = {
  [PG_OID.int8]: parseInt8,
  [PG_OID.numeric]: Number,
  [PG_OID.timestamp]: parseTimestampAsUtc,
}
