/** [longitude, latitude], as GeoJSON and KML write them. */
export type Position = [number, number]

/** Longitude in [-180, 180): 180 is written as -180 (the same meridian; GPX's longitudeType excludes 180). */
export function normalizeLongitude(longitude: number): number {
  if (longitude >= -180 && longitude < 180) return longitude
  const wrapped = ((((longitude + 180) % 360) + 360) % 360) - 180
  return wrapped === 0 && longitude !== 0 ? 0 : wrapped
}

/**
 * A track as one or more lines that never cross the antimeridian (RFC 7946 §3.1.9): where two
 * consecutive points are more than 180° of longitude apart the track is taken to cross it (the
 * shorter way round), and is cut there, at the latitude interpolated linearly between the two, the
 * first part ending on one side (±180) and the next starting on the other. Parts of fewer than two
 * positions are no line and are left out (their points are still exported as points).
 * Poles need nothing: a position at latitude ±90 is kept with the longitude it came with.
 */
export function splitAtAntimeridian(coordinates: Float64Array, count: number): Position[][] {
  const parts: Position[][] = []
  let part: Position[] = []
  for (let i = 0; i < count; i++) {
    const lon = coordinates[2 * i]!
    const lat = coordinates[2 * i + 1]!
    const previous = part.at(-1)
    if (previous && Math.abs(lon - previous[0]) > 180) {
      const eastward = lon < previous[0] // e.g. 179 -> -179: crossing +180 going east
      const edge = eastward ? 180 : -180
      const unwrapped = eastward ? lon + 360 : lon - 360
      const t = (edge - previous[0]) / (unwrapped - previous[0])
      const crossLat = previous[1] + t * (lat - previous[1])
      if (previous[0] !== edge) part.push([edge, crossLat])
      parts.push(part)
      part = lon === -edge ? [] : [[-edge, crossLat]]
    }
    part.push([lon, lat])
  }
  parts.push(part)
  return parts.filter((p) => p.length >= 2)
}

/** Coordinates of one tracker's line, 16 bytes a point: what GeoJSON and KML keep until the tracker ends. */
export class CoordinateBuffer {
  #values = new Float64Array(2 * 1024)
  count = 0

  push(longitude: number, latitude: number): void {
    if (2 * this.count + 2 > this.#values.length) {
      const grown = new Float64Array(this.#values.length * 2)
      grown.set(this.#values)
      this.#values = grown
    }
    this.#values[2 * this.count] = longitude
    this.#values[2 * this.count + 1] = latitude
    this.count++
  }

  lines(): Position[][] {
    return splitAtAntimeridian(this.#values, this.count)
  }

  clear(): void {
    this.count = 0
    if (this.#values.length > 2 * 1024 * 64) this.#values = new Float64Array(2 * 1024)
  }
}
