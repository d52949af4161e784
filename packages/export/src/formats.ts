import { CSV_CONTENT_TYPE, writeCsv } from './csv.ts'
import { GEOJSON_CONTENT_TYPE, writeGeoJson } from './geojson.ts'
import { GPX_CONTENT_TYPE, writeGpx } from './gpx.ts'
import { KML_CONTENT_TYPE, writeKml } from './kml.ts'
import type { ExportOptions, ExportPages } from './point.ts'

export type ExportFormat = 'gpx' | 'geojson' | 'kml' | 'csv'

/** Each format's file extension (the key), content type and writer. */
export const EXPORT_FORMATS: Record<
  ExportFormat,
  { contentType: string; write: (pages: ExportPages, options: ExportOptions) => AsyncGenerator<string> }
> = {
  gpx: { contentType: GPX_CONTENT_TYPE, write: writeGpx },
  geojson: { contentType: GEOJSON_CONTENT_TYPE, write: writeGeoJson },
  kml: { contentType: KML_CONTENT_TYPE, write: writeKml },
  csv: { contentType: CSV_CONTENT_TYPE, write: writeCsv },
}

export function exportWriter(format: ExportFormat) {
  return EXPORT_FORMATS[format]
}
