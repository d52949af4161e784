export { CoordinateBuffer, normalizeLongitude, type Position, splitAtAntimeridian } from './antimeridian.ts'
export { CSV_CONTENT_TYPE, csvField, writeCsv } from './csv.ts'
export { EXPORT_FORMATS, type ExportFormat, exportWriter } from './formats.ts'
export { GEOJSON_CONTENT_TYPE, writeGeoJson } from './geojson.ts'
export { DEFAULT_SEGMENT_GAP_MS, GPX_CONTENT_TYPE, GPX_EXTENSIONS_NAMESPACE, writeGpx } from './gpx.ts'
export { KML_CONTENT_TYPE, writeKml } from './kml.ts'
export {
  byTracker,
  decimal,
  type ExportOptions,
  type ExportPages,
  type ExportPoint,
  type ExportTracker,
  type ExtraField,
  type ExtraValue,
  isoTime,
  numberText,
} from './point.ts'
export { escapeXml } from './xml.ts'
