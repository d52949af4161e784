import { around, distance } from 'geokdbush'
import KDBush from 'kdbush'
import { type CityColumns, readCitiesFile } from './city-data.ts'
import { type Place, placeLabel } from './geocoder.ts'

/** What was loaded; one frozen object per loaded index, so identity shows sharing. */
export interface CityDataset {
  /** Number of places indexed. */
  readonly places: number
  /** How long reading, decoding and indexing took, in milliseconds. */
  readonly loadMs: number
}

/** The loaded places and their spatial index; built once per process and shared. */
export interface CityIndex {
  readonly dataset: CityDataset
  /** The nearest place within maxDistanceKm of a valid point; callers validate. */
  nearest(latitude: number, longitude: number, maxDistanceKm: number): Place | null
}

export function buildCityIndex(columns: CityColumns, loadStartedAt = performance.now()): CityIndex {
  const { size, names, countryCodes, latitudesE5, longitudesE5 } = columns
  // Float64 coordinates (the default): geokdbush's distance bounds are computed from them.
  const tree = new KDBush(size)
  for (let i = 0; i < size; i++) tree.add(longitudesE5[i]! / 1e5, latitudesE5[i]! / 1e5)
  tree.finish()
  const dataset: CityDataset = Object.freeze({ places: size, loadMs: performance.now() - loadStartedAt })

  return {
    dataset,
    nearest(latitude, longitude, maxDistanceKm) {
      // geokdbush works in great-circle distance, so the date line and high latitudes are handled
      // (a planar nearest neighbour would pick the wrong side of the antimeridian).
      const id = around(tree, longitude, latitude, 1, maxDistanceKm)[0]
      if (id === undefined) return null
      const name = names[id]!
      const countryCode = countryCodes[id]!
      const placeLatitude = latitudesE5[id]! / 1e5
      const placeLongitude = longitudesE5[id]! / 1e5
      return {
        name,
        countryCode,
        label: placeLabel(name, countryCode),
        latitude: placeLatitude,
        longitude: placeLongitude,
        distanceKm: distance(longitude, latitude, placeLongitude, placeLatitude),
      }
    },
  }
}

let shared: CityIndex | undefined

/**
 * Loads on first use, not at import, so importing the package costs nothing; every geocoder in the
 * process then shares the one index (the importer and an API in one process do not pay twice).
 */
export function loadCityIndex(): CityIndex {
  if (!shared) {
    const startedAt = performance.now()
    shared = buildCityIndex(readCitiesFile(), startedAt)
  }
  return shared
}
