/**
 * The map: the overview of every tracker's last position, and tracks of history points with their
 * popups, an accuracy circle and playback. Leaflet with its canvas renderer (no GPU needed, and
 * thousands of points cost one canvas, not thousands of DOM nodes).
 */
import L from 'leaflet'
import 'leaflet/dist/leaflet.css'
import type { HistoryPoint, Tracker } from '../api/queries.ts'
import type { WebConfig } from '../api/session.ts'
import { addBasemap } from './basemap.ts'
import { pointPopup, trackerPopup } from './popups.ts'

export interface DrawnTrack {
  tracker: Tracker
  colour: string
  points: HistoryPoint[]
}

interface TrackLayers {
  track: DrawnTrack
  line: L.Polyline
  markers: L.CircleMarker[]
  times: number[]
  head: L.CircleMarker
}

const EUROPE: L.LatLngBoundsExpression = [
  [35, -11],
  [60, 30],
]

export class MapView {
  readonly map: L.Map
  private readonly renderer = L.canvas({ padding: 0.3 })
  private readonly overview = L.layerGroup()
  private readonly history = L.layerGroup()
  private readonly playbackLayer = L.layerGroup()
  private tracks: TrackLayers[] = []
  private accuracyCircle: L.Circle | null = null

  constructor(container: HTMLElement, config: WebConfig) {
    this.map = L.map(container, {
      renderer: this.renderer,
      preferCanvas: true,
      worldCopyJump: true,
      keyboard: true,
      zoomSnap: 0.25,
    }).fitBounds(EUROPE)
    addBasemap(this.map, config, this.renderer)
    this.overview.addTo(this.map)
    this.history.addTo(this.map)
    this.playbackLayer.addTo(this.map)
    this.map.on('popupclose', () => this.hideAccuracy())
  }

  /** Every tracker's last known position; fits them unless the user is looking at a history. */
  showOverview(trackers: Tracker[], colourOf: (id: string) => string, fit: boolean): void {
    this.overview.clearLayers()
    const positions: L.LatLng[] = []
    for (const tracker of trackers) {
      if (!tracker.lastLocation) continue
      const at = L.latLng(tracker.lastLocation.latitude, tracker.lastLocation.longitude)
      positions.push(at)
      L.circleMarker(at, {
        renderer: this.renderer,
        radius: 8,
        color: '#fff',
        weight: 2,
        fillColor: colourOf(tracker.id),
        fillOpacity: 1,
      })
        .bindTooltip(tracker.name, { direction: 'top', offset: [0, -8] })
        .bindPopup(() => trackerPopup(tracker))
        .addTo(this.overview)
    }
    if (fit && positions.length > 0) this.map.fitBounds(L.latLngBounds(positions).pad(0.2), { maxZoom: 10 })
  }

  setOverviewVisible(visible: boolean): void {
    if (visible) this.overview.addTo(this.map)
    else this.overview.remove()
  }

  /** Draws tracks (replacing any); returns how many points were drawn. */
  showHistory(tracks: DrawnTrack[]): number {
    this.clearHistory()
    let drawn = 0
    for (const track of tracks) {
      const latLngs = track.points.map((p) => L.latLng(p.location.latitude, p.location.longitude))
      const line = L.polyline(latLngs, {
        renderer: this.renderer,
        color: track.colour,
        weight: 2,
        opacity: 0.7,
        interactive: false,
      }).addTo(this.history)
      const markers = track.points.map((point, index) => {
        const hourly = point.resolution === 'HOUR'
        return L.circleMarker(latLngs[index]!, {
          renderer: this.renderer,
          radius: hourly ? 4 : 6,
          color: track.colour,
          weight: 2,
          fillColor: hourly ? track.colour : '#ffffff',
          fillOpacity: hourly ? 0.9 : 0.8,
        })
          .bindPopup(() => pointPopup(track.tracker, point))
          .on('popupopen', () => this.showAccuracy(point, track.colour))
          .addTo(this.history)
      })
      drawn += markers.length
      const head = L.circleMarker(latLngs.at(-1) ?? [0, 0], {
        renderer: this.renderer,
        radius: 9,
        color: '#fff',
        weight: 3,
        fillColor: track.colour,
        fillOpacity: 1,
        interactive: false,
      })
      this.tracks.push({
        track,
        line,
        markers,
        times: track.points.map((p) => Date.parse(p.timestamp)),
        head,
      })
    }
    return drawn
  }

  clearHistory(): void {
    this.map.closePopup()
    this.history.clearLayers()
    this.playbackLayer.clearLayers()
    this.tracks = []
  }

  /** Zooms to the drawn tracks; false when there is nothing to fit. */
  fitToTracks(): boolean {
    const bounds = L.latLngBounds([])
    for (const { line } of this.tracks) if (line.getLatLngs().length > 0) bounds.extend(line.getBounds())
    if (!bounds.isValid()) return false
    this.map.fitBounds(bounds.pad(0.1), { maxZoom: 13 })
    return true
  }

  /** Opens a point's popup (from the list of points, for keyboard users and tests alike). */
  openPoint(trackerId: string, pointId: string): boolean {
    for (const { track, markers } of this.tracks) {
      if (track.tracker.id !== trackerId) continue
      const index = track.points.findIndex((p) => p.id === pointId)
      if (index < 0) return false
      const marker = markers[index]!
      // No animation: the popup opens where the map will be, and pans itself into view.
      this.map.setView(marker.getLatLng(), this.map.getZoom(), { animate: false })
      marker.openPopup()
      return true
    }
    return false
  }

  /**
   * Playback: each track drawn up to `time` with its position then, or every point again with null.
   * Only polylines and one marker per track move, whatever the number of points.
   */
  setPlaybackTime(time: number | null): void {
    this.playbackLayer.clearLayers()
    if (time === null) {
      this.history.addTo(this.map)
      return
    }
    this.history.remove()
    this.map.closePopup()
    for (const { line, times, head, track } of this.tracks) {
      const latLngs = line.getLatLngs() as L.LatLng[]
      const shown = upperBound(times, time)
      if (shown === 0) continue
      L.polyline(latLngs.slice(0, shown), {
        renderer: this.renderer,
        color: track.colour,
        weight: 3,
        interactive: false,
      }).addTo(this.playbackLayer)
      head.setLatLng(latLngs[shown - 1]!).addTo(this.playbackLayer)
    }
  }

  private showAccuracy(point: HistoryPoint, colour: string): void {
    this.hideAccuracy()
    if (!point.accuracy) return
    this.accuracyCircle = L.circle([point.location.latitude, point.location.longitude], {
      renderer: this.renderer,
      radius: point.accuracy,
      color: colour,
      weight: 1,
      dashArray: '4 4',
      fillOpacity: 0.12,
      interactive: false,
    }).addTo(this.map)
  }

  private hideAccuracy(): void {
    this.accuracyCircle?.remove()
    this.accuracyCircle = null
  }

  invalidateSize(): void {
    this.map.invalidateSize()
  }
}

/** How many of the sorted `times` are at or before `time`. */
function upperBound(times: number[], time: number): number {
  let low = 0
  let high = times.length
  while (low < high) {
    const mid = (low + high) >> 1
    if (times[mid]! <= time) low = mid + 1
    else high = mid
  }
  return low
}
