/**
 * The offline basemap: country outlines from Natural Earth (the `world-atlas` package), drawn as
 * vectors on the canvas, so the page makes no request beyond its own origin. A tile server is opt-in
 * (WEB_TILE_URL): then its tiles are drawn instead, with its attribution.
 */
import L from 'leaflet'
import { feature } from 'topojson-client'
import type { GeometryCollection, Topology } from 'topojson-specification'
import worldUrl from 'world-atlas/countries-50m.json?url'
import type { WebConfig } from '../api/session.ts'

const cssVar = (name: string) => getComputedStyle(document.documentElement).getPropertyValue(name).trim()

function outlineStyle(): L.PathOptions {
  return {
    color: cssVar('--map-border'),
    weight: 0.7,
    fillColor: cssVar('--map-land'),
    fillOpacity: 1,
    interactive: false,
  }
}

export function addBasemap(map: L.Map, config: WebConfig, renderer: L.Renderer): void {
  if (config.tiles) {
    L.tileLayer(config.tiles.url, { attribution: config.tiles.attribution, maxZoom: 19 }).addTo(map)
    return
  }
  map.attributionControl.addAttribution(
    'Outlines: <a href="https://www.naturalearthdata.com/">Natural Earth</a>',
  )
  const layer = L.geoJSON(undefined, { style: outlineStyle, renderer } as L.GeoJSONOptions).addTo(map)
  layer.bringToBack()
  void fetch(worldUrl)
    .then((response) => response.json() as Promise<Topology<{ countries: GeometryCollection }>>)
    .then((world) => {
      layer.addData(feature(world, world.objects.countries))
      layer.bringToBack()
    })
    .catch(() => {
      // Without outlines the tracks still draw on the sea colour; nothing to tell the user.
    })
  // Follows the system's dark mode while the page is open.
  matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => layer.setStyle(outlineStyle()))
}
