import type { PlaceShape, PolygonCoordinates } from '@tracker/db'
import { booleanPointInPolygon } from '@turf/boolean-point-in-polygon'
import { polygon as turfPolygon } from '@turf/helpers'
import { kinks } from '@turf/kinks'
import { AlertInputError, idList, inRange, validName } from '../validation/alert-input-error.ts'

/**
 * Bounds of a place.
 *
 * Circles: at least 10 m, because Find My positions are rarely better than that (a smaller circle
 * would flap on accuracy alone, hysteresis or not); at most 100 km, because beyond that a
 * "place" is a region, better drawn as a polygon, and distances on the sphere stop being
 * intuitive to the person drawing it.
 *
 * Polygons: a GeoJSON Polygon's coordinates (RFC 7946 §3.1.6): the outer ring first, then holes;
 * every ring closed (last position = first) with at least 4 positions; no edge crossing or touching
 * another (rings included); holes inside the outer ring and not inside each other; at most 1,000
 * positions in all, so that the evaluator's per-report distance stays cheap. Edges are straight in
 * longitude/latitude, as GeoJSON says, so an edge spanning more than 180° of longitude is taken to
 * cross the antimeridian, which a single polygon cannot express there: such a place is refused
 * (draw two places, one either side).
 */
export const PLACE_LIMITS = {
  minRadiusM: 10,
  maxRadiusM: 100_000,
  maxPositions: 1_000,
  maxTrackers: 1_000,
} as const

export interface CircleInput {
  latitude: number
  longitude: number
  radiusM: number
}

export interface PlaceInput {
  name: string
  /** Exactly one of circle and polygon. */
  circle?: CircleInput | null
  /** A GeoJSON Polygon's coordinates: rings of [longitude, latitude]. */
  polygon?: readonly (readonly (readonly number[])[])[] | null
  /** null (or left out): every tracker. */
  trackerIds?: readonly string[] | null
}

/** A place as it is stored: exactly one of circle and polygon set. */
export interface ValidPlace {
  name: string
  shape: PlaceShape
  circle: CircleInput | null
  polygon: PolygonCoordinates | null
  trackerIds: string[] | null
}

export function validateLatitude(value: number, field: string): number {
  return inRange(value, field, { min: -90, max: 90, unit: '°' })
}

export function validateLongitude(value: number, field: string): number {
  return inRange(value, field, { min: -180, max: 180, unit: '°' })
}

export function validateCircle(circle: CircleInput, field = 'circle'): CircleInput {
  return {
    latitude: validateLatitude(circle.latitude, `${field}.latitude`),
    longitude: validateLongitude(circle.longitude, `${field}.longitude`),
    radiusM: inRange(circle.radiusM, `${field}.radiusM`, {
      min: PLACE_LIMITS.minRadiusM,
      max: PLACE_LIMITS.maxRadiusM,
      unit: 'm',
    }),
  }
}

/** Twice the signed area of a ring in degrees² (shoelace); 0 for a ring with no inside. */
function ringArea2(ring: readonly [number, number][]): number {
  let sum = 0
  for (let i = 0; i + 1 < ring.length; i++) {
    const [x1, y1] = ring[i]!
    const [x2, y2] = ring[i + 1]!
    sum += x1 * y2 - x2 * y1
  }
  return sum
}

/** A GeoJSON Polygon's coordinates, checked as PLACE_LIMITS describes; returned as plain arrays. */
export function validatePolygon(
  coordinates: readonly (readonly (readonly number[])[])[],
  field = 'polygon',
): PolygonCoordinates {
  if (coordinates.length === 0)
    throw new AlertInputError(
      field,
      'RING_TOO_SHORT',
      'needs an outer ring (a GeoJSON Polygon’s coordinates)',
    )
  const total = coordinates.reduce((n, ring) => n + ring.length, 0)
  if (total > PLACE_LIMITS.maxPositions) {
    throw new AlertInputError(
      field,
      'TOO_MANY_VERTICES',
      `at most ${PLACE_LIMITS.maxPositions} positions in all (got ${total}): simplify the outline`,
      { max: PLACE_LIMITS.maxPositions },
    )
  }
  const rings: [number, number][][] = coordinates.map((ring, r) => {
    const checked = ring.map((position, p): [number, number] => {
      const at = `${field}[${r}][${p}]`
      if (position.length !== 2)
        throw new AlertInputError(
          at,
          'POSITION_INVALID',
          `a position is [longitude, latitude] (got ${position.length} numbers)`,
        )
      return [validateLongitude(position[0]!, `${at}[0]`), validateLatitude(position[1]!, `${at}[1]`)]
    })
    const at = `${field}[${r}]`
    if (checked.length < 4)
      throw new AlertInputError(
        at,
        'RING_TOO_SHORT',
        `a ring needs at least 4 positions, the last equal to the first (got ${checked.length})`,
        { min: 4 },
      )
    const first = checked[0]!
    const last = checked.at(-1)!
    if (first[0] !== last[0] || first[1] !== last[1])
      throw new AlertInputError(
        at,
        'RING_NOT_CLOSED',
        'the last position must equal the first (a closed ring)',
      )
    for (let p = 0; p + 1 < checked.length; p++) {
      const [x1] = checked[p]!
      const [x2] = checked[p + 1]!
      if (Math.abs(x2 - x1) > 180) {
        throw new AlertInputError(
          `${at}[${p + 1}]`,
          'CROSSES_ANTIMERIDIAN',
          'an edge spans more than 180° of longitude, i.e. crosses the antimeridian: draw one place on each side of it',
        )
      }
    }
    return checked
  })

  // Crossings and touchings within and between rings (a repeated position counts as one).
  const crossings = kinks(turfPolygon(rings)).features
  if (crossings.length > 0) {
    const at = crossings[0]!.geometry.coordinates
    throw new AlertInputError(
      field,
      'SELF_INTERSECTING',
      `edges cross or touch at [${at[0]}, ${at[1]}] (${crossings.length} such point${crossings.length === 1 ? '' : 's'}): a place's outline may not cross itself`,
      { at: [at[0], at[1]] },
    )
  }
  // No area: the positions lie on one line (up to rounding; 1e-18 deg² is about 0.01 mm²).
  for (const [r, ring] of rings.entries()) {
    if (Math.abs(ringArea2(ring)) < 1e-18)
      throw new AlertInputError(
        `${field}[${r}]`,
        'DEGENERATE',
        'the ring encloses no area (its positions are on one line)',
      )
  }
  // Without crossings, one position tells where a whole ring lies.
  const outer = turfPolygon([rings[0]!])
  for (let r = 1; r < rings.length; r++) {
    if (!booleanPointInPolygon(rings[r]![0]!, outer, { ignoreBoundary: true }))
      throw new AlertInputError(`${field}[${r}]`, 'HOLE_OUTSIDE', 'a hole must lie inside the outer ring')
    for (let other = 1; other < rings.length; other++) {
      if (
        other !== r &&
        booleanPointInPolygon(rings[r]![0]!, turfPolygon([rings[other]!]), { ignoreBoundary: true })
      )
        throw new AlertInputError(
          `${field}[${r}]`,
          'HOLE_OUTSIDE',
          `a hole must not lie inside another hole (${field}[${other}])`,
        )
    }
  }
  return rings
}

/** Exactly one shape, each checked; the name trimmed; tracker ids lower-cased, null for every tracker. */
export function validatePlace(input: PlaceInput): ValidPlace {
  const name = validName(input.name)
  const hasCircle = input.circle !== null && input.circle !== undefined
  const hasPolygon = input.polygon !== null && input.polygon !== undefined
  if (hasCircle && hasPolygon)
    throw new AlertInputError('circle', 'SHAPE_AMBIGUOUS', 'give either circle or polygon, not both')
  if (!hasCircle && !hasPolygon)
    throw new AlertInputError('circle', 'SHAPE_REQUIRED', 'give a circle (centre and radius) or a polygon')
  const trackerIds = idList(input.trackerIds, 'trackerIds', {
    max: PLACE_LIMITS.maxTrackers,
    allowEmpty: false,
    emptyHint: 'leave trackerIds out (null) for every tracker',
  })
  return hasCircle
    ? { name, shape: 'circle', circle: validateCircle(input.circle!), polygon: null, trackerIds }
    : { name, shape: 'polygon', circle: null, polygon: validatePolygon(input.polygon!), trackerIds }
}

/** What updatePlace may change; left out: unchanged. A new circle or polygon replaces the shape. */
export interface PlacePatch {
  name?: string | null
  circle?: CircleInput | null
  polygon?: readonly (readonly (readonly number[])[])[] | null
  /** null: every tracker; undefined: unchanged. */
  trackerIds?: readonly string[] | null
}

/** The place after a patch, checked whole. */
export function applyPlacePatch(current: ValidPlace, patch: PlacePatch): ValidPlace {
  const newCircle = patch.circle !== null && patch.circle !== undefined
  const newPolygon = patch.polygon !== null && patch.polygon !== undefined
  if (newCircle && newPolygon)
    throw new AlertInputError('circle', 'SHAPE_AMBIGUOUS', 'give either circle or polygon, not both')
  const shape = newCircle
    ? { circle: patch.circle, polygon: null }
    : newPolygon
      ? { circle: null, polygon: patch.polygon }
      : { circle: current.circle, polygon: current.polygon }
  return validatePlace({
    name: patch.name ?? current.name,
    ...shape,
    trackerIds: patch.trackerIds === undefined ? current.trackerIds : patch.trackerIds,
  })
}
