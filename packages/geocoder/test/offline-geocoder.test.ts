import { describe, expect, it } from 'vitest'
import {
  createOfflineGeocoder,
  DEFAULT_MAX_DISTANCE_KM,
  InvalidCoordinatesError,
  InvalidGeocoderOptionError,
  type Place,
} from '../src/index.ts'

const geocoder = createOfflineGeocoder()

/** The point `km` away from (latitude, longitude) on `bearingDeg`, on a sphere of radius 6371 km. */
function offset(latitude: number, longitude: number, km: number, bearingDeg: number) {
  const rad = Math.PI / 180
  const d = km / 6371
  const lat1 = latitude * rad
  const bearing = bearingDeg * rad
  const lat2 = Math.asin(Math.sin(lat1) * Math.cos(d) + Math.cos(lat1) * Math.sin(d) * Math.cos(bearing))
  const lon2 =
    longitude * rad +
    Math.atan2(
      Math.sin(bearing) * Math.sin(d) * Math.cos(lat1),
      Math.cos(d) - Math.sin(lat1) * Math.sin(lat2),
    )
  return { latitude: lat2 / rad, longitude: ((lon2 / rad + 540) % 360) - 180 }
}

const labelOf = (place: Place | null) => place?.label ?? null

describe('known places resolve to themselves', () => {
  it.each([
    ['Berlin, DE', 52.52437, 13.41053],
    ['Lisbon, PT', 38.71667, -9.13333],
    ['Sydney, AU', -33.86785, 151.20732],
    ['Buenos Aires, AR', -34.61315, -58.37723],
    ['Suva, FJ', -18.14161, 178.44149],
    ['Longyearbyen, SJ', 78.22334, 15.64689],
  ])('%s', (label, latitude, longitude) => {
    const place = geocoder.nearest(latitude, longitude)
    expect(place).toMatchObject({ label, latitude, longitude })
    expect(place?.distanceKm).toBeCloseTo(0, 6)
    expect(place?.label).toBe(`${place?.name}, ${place?.countryCode}`)
  })
})

describe('nearest, not biggest', () => {
  // GeoNames lists districts with 1000+ inhabitants as places; a pure nearest neighbour names them.
  it('a point in Kreuzberg gives the city, not the district', () => {
    expect(labelOf(geocoder.nearest(52.4986, 13.4033))).toBe('Berlin, DE')
  })
})

describe('a point outside a place gives that place', () => {
  it.each([
    // Offshore in Laucala Bay; the next town is 93 km away.
    ['Suva, FJ', -18.14161, 178.44149, 5, 135],
    // Out in Isfjorden, high latitude where a degree of longitude is only 23 km.
    ['Longyearbyen, SJ', 78.22334, 15.64689, 20, 300],
    // In the fjord west of Nuuk.
    ['Nuuk, GL', 64.18347, -51.72157, 8, 250],
  ])('%s, %d km off on bearing %d°', (label, latitude, longitude, km, bearing) => {
    const point = offset(latitude, longitude, km, bearing)
    const place = geocoder.nearest(point.latitude, point.longitude)
    expect(labelOf(place)).toBe(label)
    expect(place?.distanceKm).toBeCloseTo(km, 1)
  })
})

describe('great-circle distance across the antimeridian', () => {
  // Labasa (179.36°E) is the nearest place on both sides of the date line. A planar nearest
  // neighbour on (longitude, latitude) would answer Tubou (178.81°W, 197 km away) for 179.9°W.
  const wide = createOfflineGeocoder({ maxDistanceKm: 150 })

  it.each([
    [179.9, 70.1],
    [-179.9, 88.4],
  ])('longitude %d at 16.8°S gives Labasa, FJ', (longitude, km) => {
    const place = wide.nearest(-16.8, longitude)
    expect(labelOf(place)).toBe('Labasa, FJ')
    expect(place?.distanceKm).toBeCloseTo(km, 0)
  })

  it('both edges of the longitude range are valid input', () => {
    expect(labelOf(wide.nearest(-16.5, 180))).toBe('Labasa, FJ')
    expect(labelOf(wide.nearest(-16.5, -180))).toBe('Labasa, FJ')
  })
})

describe('far from every place', () => {
  it.each([
    ['mid-Atlantic', 0, -30],
    ['South Pacific', -30, -140],
    ['west of Portugal, 113 km from the Azores', 40, -30],
    ['North Pole', 90, 0],
    ['South Pole', -90, 180],
  ])('%s gives null', (_where, latitude, longitude) => {
    expect(geocoder.nearest(latitude, longitude)).toBeNull()
  })

  it('is null because of maxDistanceKm, not because the search found nothing', () => {
    const unlimited = createOfflineGeocoder({ maxDistanceKm: Number.POSITIVE_INFINITY })
    const place = unlimited.nearest(-30, -140)
    expect(labelOf(place)).toBe('Rikitea, PF')
    expect(place?.distanceKm).toBeGreaterThan(900)
  })

  it('the limit is inclusive and defaults to DEFAULT_MAX_DISTANCE_KM', () => {
    expect(geocoder.maxDistanceKm).toBe(DEFAULT_MAX_DISTANCE_KM)
    const point = offset(-18.14161, 178.44149, 30, 180)
    expect(
      labelOf(createOfflineGeocoder({ maxDistanceKm: 30.01 }).nearest(point.latitude, point.longitude)),
    ).toBe('Suva, FJ')
    expect(
      createOfflineGeocoder({ maxDistanceKm: 29.99 }).nearest(point.latitude, point.longitude),
    ).toBeNull()
  })
})

describe('invalid input', () => {
  it.each([
    [Number.NaN, 13.4],
    [52.5, Number.NaN],
    [Number.POSITIVE_INFINITY, 13.4],
    [52.5, Number.NEGATIVE_INFINITY],
    [90.0001, 0],
    [-91, 0],
    [0, 180.5],
    [0, -181],
    // A string from an unvalidated JSON payload: rejected, not coerced.
    ['52.5' as unknown as number, 13.4],
  ])('(%s, %s) throws InvalidCoordinatesError', (latitude, longitude) => {
    let thrown: unknown
    try {
      geocoder.nearest(latitude, longitude)
    } catch (error) {
      thrown = error
    }
    expect(thrown).toBeInstanceOf(InvalidCoordinatesError)
    expect(thrown).toMatchObject({ code: 'INVALID_COORDINATES', latitude, longitude })
  })

  it('lookup rejects instead of throwing synchronously', async () => {
    const pending = geocoder.lookup(Number.NaN, 0)
    await expect(pending).rejects.toBeInstanceOf(InvalidCoordinatesError)
  })

  it.each([0, -5, Number.NaN, '50' as unknown as number])('maxDistanceKm %s is refused', (maxDistanceKm) => {
    expect(() => createOfflineGeocoder({ maxDistanceKm })).toThrow(InvalidGeocoderOptionError)
  })
})

describe('the Geocoder surface', () => {
  it('lookup and lookupMany answer like nearest, in input order', async () => {
    expect(labelOf(await geocoder.lookup(52.52437, 13.41053))).toBe('Berlin, DE')
    const points = [
      { latitude: -33.86785, longitude: 151.20732 },
      { latitude: 0, longitude: -30 },
      { latitude: 38.71667, longitude: -9.13333 },
    ]
    const expected = ['Sydney, AU', null, 'Lisbon, PT']
    expect(geocoder.nearestMany(points).map(labelOf)).toEqual(expected)
    expect((await geocoder.lookupMany(points)).map(labelOf)).toEqual(expected)
  })

  it('names itself and carries the CC BY attribution of GeoNames', () => {
    expect(geocoder.name).toBe('geonames-offline')
    expect(geocoder.attribution).toMatch(/GeoNames.*CC BY 4\.0/)
  })
})

describe('loading', () => {
  it('loads once per process: every geocoder shares the same index', () => {
    const startedAt = performance.now()
    const other = createOfflineGeocoder({ maxDistanceKm: 10 })
    const createMs = performance.now() - startedAt

    expect(other.dataset).toBe(geocoder.dataset)
    expect(createMs).toBeLessThan(5)
    expect(geocoder.dataset.places).toBe(130_378)
    expect(geocoder.dataset.loadMs).toBeGreaterThan(0)
  })
})
