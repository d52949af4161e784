import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { check } from '@placemarkio/check-geojson'
import { gpx, kml } from '@tmcw/togeojson'
import { DOMParser } from '@xmldom/xmldom'
import { parse } from 'csv-parse/sync'

/**
 * Independent readers of what the writers wrote: the GPX 1.1 XSD through xmllint (libxml2),
 * @tmcw/togeojson for GPX and KML, @placemarkio/check-geojson, csv-parse. Shared with the API's tests.
 */
export const GPX_XSD = join(dirname(fileURLToPath(import.meta.url)), '..', 'schemas', 'gpx.xsd')

export const xmllintAvailable = (() => {
  try {
    execFileSync('xmllint', ['--version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
})()

/** xmllint's verdict on a GPX document against the GPX 1.1 schema: '' when valid, else its messages. */
export function gpxSchemaErrors(document: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'gpx-'))
  try {
    const file = join(dir, 'export.gpx')
    writeFileSync(file, document)
    try {
      execFileSync('xmllint', ['--noout', '--nonet', '--schema', GPX_XSD, file], { stdio: 'pipe' })
      return ''
    } catch (error) {
      return String((error as { stderr?: Buffer }).stderr ?? error)
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Parses XML strictly: any parse error or warning throws. */
export function parseXml(text: string) {
  const problems: string[] = []
  const parser = new DOMParser({
    onError: (level, message) => {
      problems.push(`${level}: ${message}`)
    },
  })
  const document = parser.parseFromString(text, 'text/xml')
  if (problems.length > 0) throw new Error(`XML does not parse: ${problems.join('; ')}`)
  return document
}

/** What the tests read of a FeatureCollection. */
export interface Features {
  type: string
  features: {
    type: string
    // biome-ignore lint/suspicious/noExplicitAny: coordinates nest by geometry type
    geometry: { type: string; coordinates?: any; geometries?: { type: string; coordinates: any }[] } | null
    // biome-ignore lint/suspicious/noExplicitAny: whatever the reader put there
    properties: Record<string, any> | null
  }[]
}

// biome-ignore lint/suspicious/noExplicitAny: togeojson's types want the browser's Document
export const gpxToGeoJson = (text: string): Features => gpx(parseXml(text) as any) as Features
// biome-ignore lint/suspicious/noExplicitAny: as above
export const kmlToGeoJson = (text: string): Features => kml(parseXml(text) as any) as Features
export const checkGeoJson = (text: string): Features => check(text) as unknown as Features
export const parseCsv = (text: string): Record<string, string>[] =>
  parse(text, { columns: true, record_delimiter: '\r\n', relax_quotes: false, strict: true } as never)
