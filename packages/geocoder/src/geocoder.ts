/**
 * The geocoder contract the importer depends on. The offline GeoNames geocoder implements it today;
 * an HTTP provider (Nominatim) could implement the same interface later, which is why the common
 * surface is asynchronous even though the offline lookup itself is synchronous.
 */

export interface Coordinates {
  /** Degrees, WGS 84, in [-90, 90]. */
  latitude: number
  /** Degrees, WGS 84, in [-180, 180]. */
  longitude: number
}

/** The place nearest to a queried point. */
export interface Place {
  name: string
  /** ISO 3166-1 alpha-2, e.g. "DE". */
  countryCode: string
  /** What a UI shows: "Berlin, DE". */
  label: string
  /** Where the place itself is (not the queried point). */
  latitude: number
  longitude: number
  /** Great-circle distance from the queried point to the place. */
  distanceKm: number
}

export interface Geocoder {
  /** Which provider answered, for logs and for storing alongside a label. */
  readonly name: string
  /** Licence notice for the data; every provider we would use (GeoNames, OSM) requires one. */
  readonly attribution: string
  /**
   * The nearest place, or null when nothing is close enough to name. Rejects with
   * InvalidCoordinatesError for coordinates that are not on Earth.
   */
  lookup(latitude: number, longitude: number): Promise<Place | null>
  /** One result per point, in input order, so a provider can batch, cache and rate-limit in one place. */
  lookupMany(points: readonly Coordinates[]): Promise<Array<Place | null>>
}

export class InvalidCoordinatesError extends Error {
  readonly code = 'INVALID_COORDINATES'
  readonly latitude: unknown
  readonly longitude: unknown
  constructor(latitude: unknown, longitude: unknown) {
    super(
      `latitude must be a finite number in [-90, 90] and longitude one in [-180, 180]; ` +
        `got latitude=${String(latitude)}, longitude=${String(longitude)}`,
    )
    this.latitude = latitude
    this.longitude = longitude
  }
}

/**
 * Every provider validates the same way: a wrong answer for NaN or a swapped latitude/longitude
 * would be stored forever, a thrown error is seen at once. Out-of-range longitudes are rejected
 * rather than wrapped because they point at a bug upstream, not at a place.
 */
export function assertValidCoordinates(latitude: number, longitude: number): void {
  if (
    !Number.isFinite(latitude) ||
    !Number.isFinite(longitude) ||
    latitude < -90 ||
    latitude > 90 ||
    longitude < -180 ||
    longitude > 180
  ) {
    throw new InvalidCoordinatesError(latitude, longitude)
  }
}

export function placeLabel(name: string, countryCode: string): string {
  return countryCode ? `${name}, ${countryCode}` : name
}
