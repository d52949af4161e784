import L from 'leaflet'
import type { Place } from '../api/alert-queries.ts'

/** GeoJSON's [longitude, latitude] rings as Leaflet's [latitude, longitude] ones. */
export const ringsOf = (polygon: number[][][]): L.LatLngExpression[][] =>
  polygon.map((ring) => ring.map(([longitude, latitude]) => [latitude!, longitude!] as L.LatLngTuple))

/**
 * Places drawn as what they are, a circle (its radius in metres on the ground) or a polygon with its
 * holes, each labelled with its name. SVG, not the tracks' canvas: a few shapes, each an element the
 * page can address (data-place-id) and a label that stays on.
 */
export class PlacesLayer {
  private readonly group = L.layerGroup()
  private readonly renderer = L.svg()
  private readonly shapes = new Map<string, L.Circle | L.Polygon>()

  constructor(map: L.Map) {
    this.group.addTo(map)
  }

  show(places: Place[]): number {
    this.group.clearLayers()
    this.shapes.clear()
    for (const place of places) {
      const style: L.PathOptions = {
        renderer: this.renderer,
        color: '#0b63ce',
        weight: 2,
        fillOpacity: 0.12,
        className: 'place-shape',
      }
      let shape: L.Circle | L.Polygon
      if (place.shape === 'CIRCLE' && place.center && place.radiusM !== null) {
        shape = L.circle([place.center.latitude, place.center.longitude], { ...style, radius: place.radiusM })
      } else if (place.polygon) {
        shape = L.polygon(ringsOf(place.polygon), style)
      } else {
        continue
      }
      shape
        .bindTooltip(place.name, { permanent: true, direction: 'center', className: 'place-label' })
        .addTo(this.group)
      shape.getElement()?.setAttribute('data-place-id', place.id)
      shape.getElement()?.setAttribute('aria-label', `Place ${place.name}`)
      this.shapes.set(place.id, shape)
    }
    return this.shapes.size
  }

  /** The map's view of one place (false when it is not drawn). */
  focus(map: L.Map, placeId: string): boolean {
    const shape = this.shapes.get(placeId)
    if (!shape) return false
    map.fitBounds(shape.getBounds().pad(0.3), { maxZoom: 16 })
    return true
  }

  /** Every place in view (false when there is none). */
  fitAll(map: L.Map): boolean {
    const bounds = L.latLngBounds([])
    for (const shape of this.shapes.values()) bounds.extend(shape.getBounds())
    if (!bounds.isValid()) return false
    map.fitBounds(bounds.pad(0.2), { maxZoom: 15 })
    return true
  }
}
