import { distanceMeters } from '../distance.ts'
/** European cities the simulated trackers travel between (city-centre coordinates). */
export interface City {
  name: string
  country: string
  latitude: number
  longitude: number
}

export const CITIES: readonly City[] = [
  { name: 'Lisbon', country: 'PT', latitude: 38.7223, longitude: -9.1393 },
  { name: 'Porto', country: 'PT', latitude: 41.1579, longitude: -8.6291 },
  { name: 'Madrid', country: 'ES', latitude: 40.4168, longitude: -3.7038 },
  { name: 'Seville', country: 'ES', latitude: 37.3891, longitude: -5.9845 },
  { name: 'Valencia', country: 'ES', latitude: 39.4699, longitude: -0.3763 },
  { name: 'Barcelona', country: 'ES', latitude: 41.3874, longitude: 2.1686 },
  { name: 'Bilbao', country: 'ES', latitude: 43.263, longitude: -2.935 },
  { name: 'Bordeaux', country: 'FR', latitude: 44.8378, longitude: -0.5792 },
  { name: 'Toulouse', country: 'FR', latitude: 43.6047, longitude: 1.4442 },
  { name: 'Marseille', country: 'FR', latitude: 43.2965, longitude: 5.3698 },
  { name: 'Lyon', country: 'FR', latitude: 45.764, longitude: 4.8357 },
  { name: 'Nantes', country: 'FR', latitude: 47.2184, longitude: -1.5536 },
  { name: 'Paris', country: 'FR', latitude: 48.8566, longitude: 2.3522 },
  { name: 'Brussels', country: 'BE', latitude: 50.8503, longitude: 4.3517 },
  { name: 'Amsterdam', country: 'NL', latitude: 52.3676, longitude: 4.9041 },
  { name: 'Rotterdam', country: 'NL', latitude: 51.9244, longitude: 4.4777 },
  { name: 'London', country: 'GB', latitude: 51.5072, longitude: -0.1276 },
  { name: 'Manchester', country: 'GB', latitude: 53.4808, longitude: -2.2426 },
  { name: 'Edinburgh', country: 'GB', latitude: 55.9533, longitude: -3.1883 },
  { name: 'Dublin', country: 'IE', latitude: 53.3498, longitude: -6.2603 },
  { name: 'Cork', country: 'IE', latitude: 51.8985, longitude: -8.4756 },
  { name: 'Cologne', country: 'DE', latitude: 50.9375, longitude: 6.9603 },
  { name: 'Frankfurt', country: 'DE', latitude: 50.1109, longitude: 8.6821 },
  { name: 'Hamburg', country: 'DE', latitude: 53.5511, longitude: 9.9937 },
  { name: 'Berlin', country: 'DE', latitude: 52.52, longitude: 13.405 },
  { name: 'Munich', country: 'DE', latitude: 48.1351, longitude: 11.582 },
  { name: 'Stuttgart', country: 'DE', latitude: 48.7758, longitude: 9.1829 },
  { name: 'Zurich', country: 'CH', latitude: 47.3769, longitude: 8.5417 },
  { name: 'Geneva', country: 'CH', latitude: 46.2044, longitude: 6.1432 },
  { name: 'Milan', country: 'IT', latitude: 45.4642, longitude: 9.19 },
  { name: 'Turin', country: 'IT', latitude: 45.0703, longitude: 7.6869 },
  { name: 'Venice', country: 'IT', latitude: 45.4408, longitude: 12.3155 },
  { name: 'Florence', country: 'IT', latitude: 43.7696, longitude: 11.2558 },
  { name: 'Rome', country: 'IT', latitude: 41.9028, longitude: 12.4964 },
  { name: 'Naples', country: 'IT', latitude: 40.8518, longitude: 14.2681 },
  { name: 'Vienna', country: 'AT', latitude: 48.2082, longitude: 16.3738 },
  { name: 'Ljubljana', country: 'SI', latitude: 46.0569, longitude: 14.5058 },
  { name: 'Prague', country: 'CZ', latitude: 50.0755, longitude: 14.4378 },
  { name: 'Budapest', country: 'HU', latitude: 47.4979, longitude: 19.0402 },
  { name: 'Warsaw', country: 'PL', latitude: 52.2297, longitude: 21.0122 },
  { name: 'Kraków', country: 'PL', latitude: 50.0647, longitude: 19.945 },
  { name: 'Copenhagen', country: 'DK', latitude: 55.6761, longitude: 12.5683 },
  { name: 'Oslo', country: 'NO', latitude: 59.9139, longitude: 10.7522 },
  { name: 'Stockholm', country: 'SE', latitude: 59.3293, longitude: 18.0686 },
  { name: 'Athens', country: 'GR', latitude: 37.9838, longitude: 23.7275 },
]

export const distanceKm = (
  a: { latitude: number; longitude: number },
  b: { latitude: number; longitude: number },
): number => distanceMeters(a, b) / 1000

/** For each city, the others nearest first: road trips go to one of the few closest. */
export const NEIGHBOURS: ReadonlyMap<City, readonly City[]> = new Map(
  CITIES.map((city) => [
    city,
    CITIES.filter((other) => other !== city).sort((a, b) => distanceKm(city, a) - distanceKm(city, b)),
  ]),
)
