import { BadUserInputError, NotFoundApiError } from '../errors.ts'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/**
 * Ids are opaque to clients: one that is not even a UUID names nothing, so it is NOT_FOUND like
 * any other unknown id (and never reaches the database as a cast error).
 */
export function requireId(entity: string, id: string): string {
  if (!UUID.test(id)) throw new NotFoundApiError(entity, id)
  return id.toLowerCase()
}

export function requireOrderedRange(from: Date, to: Date, names = ['startTime', 'endTime'] as const): void {
  if (from.getTime() > to.getTime()) {
    throw new BadUserInputError(
      `${names[0]} (${from.toISOString()}) must not be after ${names[1]} (${to.toISOString()})`,
    )
  }
}

/** A page size within bounds; a size outside them is refused rather than silently changed. */
export function pageSize(
  requested: number | null | undefined,
  bounds: { defaultSize: number; maxSize: number },
  argument = 'first',
): number {
  if (requested === null || requested === undefined) return bounds.defaultSize
  if (requested < 1 || requested > bounds.maxSize) {
    throw new BadUserInputError(`${argument} must be between 1 and ${bounds.maxSize} (got ${requested})`, {
      argument,
      max: bounds.maxSize,
    })
  }
  return requested
}

/** Opaque keyset cursors: base64url of a JSON array of the sort key. */
export function encodeCursor(values: (string | number)[]): string {
  return Buffer.from(JSON.stringify(values)).toString('base64url')
}

export function decodeCursor<T extends (string | number)[]>(
  cursor: string,
  shape: ('string' | 'number')[],
  argument = 'after',
): T {
  const invalid = () => new BadUserInputError(`${argument} is not a cursor this API returned`)
  let values: unknown
  try {
    values = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
  } catch {
    throw invalid()
  }
  if (
    !Array.isArray(values) ||
    values.length !== shape.length ||
    values.some((value, i) => typeof value !== shape[i] || (typeof value === 'string' && value.length > 100))
  ) {
    throw invalid()
  }
  return values as T
}

/**
 * The instants every timestamp column (PostgreSQL timestamptz: 4713 BC to 294276 AD) and the API's
 * ISO text (four-digit years) can both hold: 0001-01-01 to 9999-12-31, UTC. PostgreSQL has no year
 * 0000, which JavaScript dates do have; sending one fails the statement.
 */
export const EARLIEST_INSTANT_MS = Date.parse('0001-01-01T00:00:00.000Z')
export const LATEST_INSTANT_MS = Date.parse('9999-12-31T23:59:59.999Z')

export function isStorableInstant(ms: number): boolean {
  return Number.isFinite(ms) && ms >= EARLIEST_INSTANT_MS && ms <= LATEST_INSTANT_MS
}

const CURSOR_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$/

/**
 * A cursor's ISO timestamp, checked before it reaches SQL: a real calendar instant (no February 30,
 * no hour 24: Date.parse rolls those over, PostgreSQL refuses them) that PostgreSQL can store.
 */
export function cursorTime(value: string, argument = 'after'): string {
  const ms = CURSOR_TIME.test(value) ? Date.parse(value) : Number.NaN
  if (!isStorableInstant(ms) || new Date(ms).toISOString().slice(0, 19) !== value.slice(0, 19)) {
    throw new BadUserInputError(`${argument} is not a cursor this API returned`)
  }
  return value
}

export function cursorId(value: string, argument = 'after'): string {
  if (!UUID.test(value)) throw new BadUserInputError(`${argument} is not a cursor this API returned`)
  return value
}
