import { describe, expect, it } from 'vitest'
import {
  applyPlacePatch,
  PLACE_LIMITS,
  validatePlace,
  validatePolygon,
} from '../src/places/place.validation.ts'
import { AlertInputError } from '../src/validation/alert-input-error.ts'

/** The error a call throws, for its field and reason. */
function refusal(run: () => unknown): AlertInputError {
  try {
    run()
  } catch (error) {
    if (error instanceof AlertInputError) return error
    throw error
  }
  throw new Error('expected an AlertInputError, nothing was thrown')
}

const square = (x: number, y: number, size = 0.01): number[][] => [
  [x, y],
  [x + size, y],
  [x + size, y + size],
  [x, y + size],
  [x, y],
]
const T1 = '11111111-1111-4111-8111-111111111111'

describe('circles', () => {
  it('accepts a centre and a radius within bounds; trims the name, lower-cases tracker ids', () => {
    expect(
      validatePlace({
        name: '  Home ',
        circle: { latitude: 52.52, longitude: 13.405, radiusM: 150 },
        trackerIds: [T1.toUpperCase(), T1],
      }),
    ).toEqual({
      name: 'Home',
      shape: 'circle',
      circle: { latitude: 52.52, longitude: 13.405, radiusM: 150 },
      polygon: null,
      trackerIds: [T1],
    })
  })

  it.each([
    [PLACE_LIMITS.minRadiusM - 1, 'circle.radiusM'],
    [PLACE_LIMITS.maxRadiusM + 1, 'circle.radiusM'],
    [0, 'circle.radiusM'],
    [Number.NaN, 'circle.radiusM'],
  ])('refuses radius %s m (OUT_OF_RANGE, with the bounds)', (radiusM, field) => {
    const error = refusal(() => validatePlace({ name: 'x', circle: { latitude: 0, longitude: 0, radiusM } }))
    expect(error).toMatchObject({ field, reason: 'OUT_OF_RANGE', code: 'BAD_USER_INPUT' })
    expect(error.details).toEqual({ min: 10, max: 100_000 })
  })

  it('accepts the bounds themselves', () => {
    for (const radiusM of [PLACE_LIMITS.minRadiusM, PLACE_LIMITS.maxRadiusM])
      expect(
        validatePlace({ name: 'x', circle: { latitude: 0, longitude: 0, radiusM } }).circle?.radiusM,
      ).toBe(radiusM)
  })

  it('refuses a latitude or longitude off the globe', () => {
    expect(
      refusal(() => validatePlace({ name: 'x', circle: { latitude: 90.5, longitude: 0, radiusM: 50 } })),
    ).toMatchObject({ field: 'circle.latitude', reason: 'OUT_OF_RANGE' })
    expect(
      refusal(() => validatePlace({ name: 'x', circle: { latitude: 0, longitude: -181, radiusM: 50 } })),
    ).toMatchObject({ field: 'circle.longitude', reason: 'OUT_OF_RANGE' })
  })

  it('needs exactly one shape, a name, and a non-empty tracker list when one is given', () => {
    expect(refusal(() => validatePlace({ name: 'x' }))).toMatchObject({ reason: 'SHAPE_REQUIRED' })
    expect(
      refusal(() =>
        validatePlace({
          name: 'x',
          circle: { latitude: 0, longitude: 0, radiusM: 50 },
          polygon: [square(0, 0)],
        }),
      ),
    ).toMatchObject({ reason: 'SHAPE_AMBIGUOUS' })
    expect(
      refusal(() => validatePlace({ name: '   ', circle: { latitude: 0, longitude: 0, radiusM: 50 } })),
    ).toMatchObject({ field: 'name', reason: 'NAME_LENGTH' })
    expect(
      refusal(() =>
        validatePlace({ name: 'x', circle: { latitude: 0, longitude: 0, radiusM: 50 }, trackerIds: [] }),
      ),
    ).toMatchObject({ field: 'trackerIds', reason: 'EMPTY_LIST' })
  })
})

describe('polygons', () => {
  it('accepts a closed ring, either orientation, and a hole inside it', () => {
    const outer = square(13.4, 52.5, 0.1)
    const hole = square(13.42, 52.52, 0.01)
    expect(validatePolygon([outer])).toEqual([outer])
    expect(validatePolygon([[...outer].reverse()])).toEqual([[...outer].reverse()])
    expect(validatePolygon([outer, hole])).toEqual([outer, hole])
  })

  it('refuses a self-intersecting ring (a bow tie), saying where', () => {
    const error = refusal(() =>
      validatePlace({
        name: 'bow tie',
        polygon: [
          [
            [0, 0],
            [1, 1],
            [1, 0],
            [0, 1],
            [0, 0],
          ],
        ],
      }),
    )
    expect(error).toMatchObject({
      field: 'polygon',
      reason: 'SELF_INTERSECTING',
      details: { at: [0.5, 0.5] },
    })
    expect(error.message).toMatch(/cross/)
  })

  it('refuses a hole that crosses the outer ring, one outside it, and one inside another hole', () => {
    const outer = square(0, 0, 4)
    expect(refusal(() => validatePolygon([outer, square(3, 1, 2)]))).toMatchObject({
      reason: 'SELF_INTERSECTING',
    })
    expect(refusal(() => validatePolygon([outer, square(10, 10, 1)]))).toMatchObject({
      field: 'polygon[1]',
      reason: 'HOLE_OUTSIDE',
    })
    expect(refusal(() => validatePolygon([outer, square(1, 1, 2), square(1.5, 1.5, 0.5)]))).toMatchObject({
      reason: 'HOLE_OUTSIDE',
    })
  })

  it('refuses an open ring, a short ring, a position that is not a pair, no ring at all', () => {
    expect(refusal(() => validatePolygon([square(0, 0).slice(0, 4)]))).toMatchObject({
      field: 'polygon[0]',
      reason: 'RING_NOT_CLOSED',
    })
    expect(
      refusal(() =>
        validatePolygon([
          [
            [0, 0],
            [1, 0],
            [0, 0],
          ],
        ]),
      ),
    ).toMatchObject({ reason: 'RING_TOO_SHORT' })
    expect(refusal(() => validatePolygon([[[0, 0, 3], ...square(0, 0).slice(1)]]))).toMatchObject({
      field: 'polygon[0][0]',
      reason: 'POSITION_INVALID',
    })
    expect(refusal(() => validatePolygon([]))).toMatchObject({ reason: 'RING_TOO_SHORT' })
  })

  it('refuses positions off the globe, naming the position', () => {
    const ring = square(0, 0)
    ring[2] = [0.01, 91]
    expect(refusal(() => validatePolygon([ring]))).toMatchObject({
      field: 'polygon[0][2][1]',
      reason: 'OUT_OF_RANGE',
    })
  })

  it('refuses a ring with no area (its positions on one line)', () => {
    expect(
      refusal(() =>
        validatePolygon([
          [
            [0, 0],
            [1, 1],
            [2, 2],
            [0, 0],
          ],
        ]),
      ),
    ).toMatchObject({ reason: 'DEGENERATE' })
  })

  it('refuses an edge across the antimeridian', () => {
    const error = refusal(() =>
      validatePolygon([
        [
          [179.5, 0],
          [-179.5, 0],
          [-179.5, 1],
          [179.5, 1],
          [179.5, 0],
        ],
      ]),
    )
    expect(error).toMatchObject({ field: 'polygon[0][1]', reason: 'CROSSES_ANTIMERIDIAN' })
  })

  it('refuses more than the vertex limit, accepts it exactly', () => {
    const ringOf = (n: number) => {
      const ring = Array.from({ length: n - 1 }, (_, i) => {
        const a = (2 * Math.PI * i) / (n - 1)
        return [Math.cos(a) * 0.01, Math.sin(a) * 0.01]
      })
      return [...ring, ring[0]!]
    }
    expect(validatePolygon([ringOf(PLACE_LIMITS.maxPositions)])).toHaveLength(1)
    expect(refusal(() => validatePolygon([ringOf(PLACE_LIMITS.maxPositions + 1)]))).toMatchObject({
      reason: 'TOO_MANY_VERTICES',
      details: { max: PLACE_LIMITS.maxPositions },
    })
  })
})

describe('updating a place', () => {
  const home = validatePlace({
    name: 'Home',
    circle: { latitude: 1, longitude: 2, radiusM: 100 },
    trackerIds: [T1],
  })

  it('keeps what is left out; null tracker ids mean every tracker', () => {
    expect(applyPlacePatch(home, { name: 'House' })).toEqual({ ...home, name: 'House' })
    expect(applyPlacePatch(home, { trackerIds: null }).trackerIds).toBeNull()
  })

  it('a polygon replaces the circle, and is checked', () => {
    const changed = applyPlacePatch(home, { polygon: [square(0, 0)] })
    expect(changed).toMatchObject({ shape: 'polygon', circle: null, polygon: [square(0, 0)] })
    expect(
      refusal(() => applyPlacePatch(home, { circle: { latitude: 1, longitude: 2, radiusM: 5 } })),
    ).toMatchObject({ field: 'circle.radiusM' })
  })
})
