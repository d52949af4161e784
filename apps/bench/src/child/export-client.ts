/**
 * The export figure's client, in its own process (as a user's download is): it GETs each export
 * URL in turn, reads every body to its end as it streams, counts the rows it holds and the bytes,
 * and prints one JSON line. The API's process then pays only for serving, and its RSS is not the
 * client's. Started by the export figure with a JSON config (ExportClientConfig) as argv[2].
 */

export type ExportClientFormat = 'csv' | 'geojson' | 'gpx' | 'kml'

export interface ExportClientConfig {
  urls: string[]
  token: string
  format: ExportClientFormat
}

export interface ExportClientResult {
  /** Every response's rows, bytes and time (from the request to the body's last byte). */
  responses: { status: number; rows: number; bytes: number; ms: number }[]
  rows: number
  bytes: number
  ms: number
}

/**
 * What marks one row (one exported point) in each format's document; the CSV's is a line end (CRLF,
 * so "\n"), less its header line. Tracks (GeoJSON's kind "track", KML's track Placemark, GPX's
 * <trk>) carry no marker: they are the points again, not rows.
 */
const MARKERS: Record<ExportClientFormat, Buffer> = {
  csv: Buffer.from('\n'),
  geojson: Buffer.from('"kind":"point"'),
  gpx: Buffer.from('<trkpt '),
  kml: Buffer.from('<TimeStamp>'),
}

/** Counts a marker across a stream's chunks (a marker may straddle two of them). */
function markerCounter(marker: Buffer) {
  let tail = Buffer.alloc(0)
  let count = 0
  return {
    push(chunk: Uint8Array) {
      const buffer = tail.length > 0 ? Buffer.concat([tail, chunk]) : Buffer.from(chunk)
      let at = buffer.indexOf(marker)
      let end = 0
      while (at >= 0) {
        count++
        end = at + marker.length
        at = buffer.indexOf(marker, end)
      }
      // Keep what could be the start of a marker the next chunk completes (never a counted one).
      tail = Buffer.from(buffer.subarray(Math.max(end, buffer.length - (marker.length - 1))))
    },
    get count() {
      return count
    },
  }
}

export async function fetchExports(config: ExportClientConfig): Promise<ExportClientResult> {
  const responses: ExportClientResult['responses'] = []
  const started = performance.now()
  for (const url of config.urls) {
    const t0 = performance.now()
    const response = await fetch(url, { headers: { authorization: `Bearer ${config.token}` } })
    if (!response.ok || !response.body) {
      throw new Error(
        `GET ${url.slice(0, 200)} answered ${response.status}: ${(await response.text()).slice(0, 300)}`,
      )
    }
    const counter = markerCounter(MARKERS[config.format])
    let bytes = 0
    for await (const chunk of response.body) {
      bytes += chunk.byteLength
      counter.push(chunk)
    }
    const rows = config.format === 'csv' ? counter.count - 1 : counter.count
    responses.push({ status: response.status, rows, bytes, ms: performance.now() - t0 })
  }
  return {
    responses,
    rows: responses.reduce((sum, r) => sum + r.rows, 0),
    bytes: responses.reduce((sum, r) => sum + r.bytes, 0),
    ms: performance.now() - started,
  }
}

if (import.meta.main) {
  const config = JSON.parse(process.argv[2]!) as ExportClientConfig
  fetchExports(config).then(
    (result) => process.stdout.write(`${JSON.stringify(result)}\n`),
    (error: Error) => {
      process.stderr.write(`${error.stack ?? error.message}\n`)
      process.exitCode = 1
    },
  )
}
