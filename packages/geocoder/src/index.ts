export { CityDataError } from './city-data.ts'
export type { CityDataset } from './city-index.ts'
export {
  assertValidCoordinates,
  type Coordinates,
  type Geocoder,
  InvalidCoordinatesError,
  type Place,
  placeLabel,
} from './geocoder.ts'
export {
  createOfflineGeocoder,
  DEFAULT_MAX_DISTANCE_KM,
  GEONAMES_ATTRIBUTION,
  InvalidGeocoderOptionError,
  type OfflineGeocoder,
  type OfflineGeocoderOptions,
} from './offline-geocoder.ts'
