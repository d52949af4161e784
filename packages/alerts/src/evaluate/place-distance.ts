import type { PolygonCoordinates } from '@tracker/db'
import { distanceMeters } from '@tracker/findmy'
import { pointToPolygonDistance } from '@turf/point-to-polygon-distance'

/** A place as the evaluator needs it: a circle or a polygon. */
export type PlaceGeometry =
  | { shape: 'circle'; latitude: number; longitude: number; radiusM: number }
  | { shape: 'polygon'; coordinates: PolygonCoordinates }

/**
 * Signed distance in metres from a position to a place's boundary: negative inside, positive
 * outside, the same meaning for circles and polygons so that one hysteresis rule serves both.
 * Polygons are measured geodesically by turf (a hole counts as outside).
 */
export function signedDistanceToPlace(place: PlaceGeometry, latitude: number, longitude: number): number {
  if (place.shape === 'circle')
    return (
      distanceMeters({ latitude, longitude }, { latitude: place.latitude, longitude: place.longitude }) -
      place.radiusM
    )
  return pointToPolygonDistance(
    [longitude, latitude],
    { type: 'Polygon', coordinates: place.coordinates },
    {
      units: 'meters',
      method: 'geodesic',
    },
  )
}
