/**
 * Why an alert place, rule or channel was refused. Stable: clients may switch on it (the API puts it
 * in extensions.reason, beside extensions.field).
 */
export type AlertInputReason =
  | 'REQUIRED'
  | 'NOT_FOR_KIND'
  | 'OUT_OF_RANGE'
  | 'NOT_AN_INTEGER'
  | 'NAME_LENGTH'
  | 'SHAPE_REQUIRED'
  | 'SHAPE_AMBIGUOUS'
  | 'POSITION_INVALID'
  | 'RING_NOT_CLOSED'
  | 'RING_TOO_SHORT'
  | 'TOO_MANY_VERTICES'
  | 'SELF_INTERSECTING'
  | 'DEGENERATE'
  | 'HOLE_OUTSIDE'
  | 'CROSSES_ANTIMERIDIAN'
  | 'EMPTY_LIST'
  | 'TOO_MANY'
  | 'UNKNOWN_REFERENCE'
  | 'NO_COMMON_TRACKER'
  | 'NOT_CHANGEABLE'
  | 'URL_INVALID'
  | 'TOPIC_INVALID'
  | 'SECRET_INVALID'
  | 'IN_USE'

/**
 * Input the alerts package refuses: `field` names the input field (`circle.radiusM`,
 * `polygon[0][3]`, `channelIds`), `reason` says why, `details` carries what a client needs to fix it
 * (the bounds, the unknown ids). `code` is the one the API's GraphQL edge reports.
 */
export class AlertInputError extends Error {
  readonly code = 'BAD_USER_INPUT'
  readonly field: string
  readonly reason: AlertInputReason
  readonly details: Record<string, unknown>
  constructor(
    field: string,
    reason: AlertInputReason,
    message: string,
    details: Record<string, unknown> = {},
  ) {
    super(`${field}: ${message}`)
    this.name = 'AlertInputError'
    this.field = field
    this.reason = reason
    this.details = details
  }
}

export const NAME_MAX_LENGTH = 200

/** A name trimmed, 1 to 200 characters (as the tables' CHECK constraints want). */
export function validName(name: string, field = 'name'): string {
  const trimmed = name.trim()
  if (trimmed.length < 1 || trimmed.length > NAME_MAX_LENGTH) {
    throw new AlertInputError(
      field,
      'NAME_LENGTH',
      `must be 1 to ${NAME_MAX_LENGTH} characters once trimmed (got ${trimmed.length})`,
      { min: 1, max: NAME_MAX_LENGTH },
    )
  }
  return trimmed
}

/** A number within [min, max]; integers only when asked. */
export function inRange(
  value: number,
  field: string,
  bounds: { min: number; max: number; integer?: boolean; unit?: string },
): number {
  if (bounds.integer && !Number.isInteger(value))
    throw new AlertInputError(field, 'NOT_AN_INTEGER', `must be a whole number (got ${value})`)
  const unit = bounds.unit ? ` ${bounds.unit}` : ''
  if (!Number.isFinite(value) || value < bounds.min || value > bounds.max) {
    throw new AlertInputError(
      field,
      'OUT_OF_RANGE',
      `must be between ${bounds.min} and ${bounds.max}${unit} (got ${value})`,
      { min: bounds.min, max: bounds.max },
    )
  }
  return value
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export function isUuid(value: string): boolean {
  return UUID.test(value)
}

/**
 * A list of ids, lower-cased and without repeats. `null`: every one (tracker lists), kept as null;
 * an empty list would mean none at all, which is refused where `emptyMeansNothing`.
 */
export function idList(
  ids: readonly string[] | null | undefined,
  field: string,
  options: { max: number; allowEmpty: boolean; emptyHint?: string },
): string[] | null {
  if (ids === null || ids === undefined) return null
  const unique = [...new Set(ids.map((id) => id.trim().toLowerCase()))]
  if (unique.length === 0 && !options.allowEmpty)
    throw new AlertInputError(
      field,
      'EMPTY_LIST',
      `must not be empty${options.emptyHint ? `: ${options.emptyHint}` : ''}`,
    )
  if (unique.length > options.max)
    throw new AlertInputError(field, 'TOO_MANY', `at most ${options.max} ids (got ${unique.length})`, {
      max: options.max,
    })
  return unique
}

/** Ids a reference check found nothing for, as one error naming them. */
export function unknownReferences(field: string, what: string, unknown: readonly string[]): AlertInputError {
  return new AlertInputError(field, 'UNKNOWN_REFERENCE', `no ${what} has the id ${unknown.join(', ')}`, {
    unknown: [...unknown],
  })
}
