import type { AlertRuleKind, BatteryThreshold, Database, PolygonCoordinates, Transaction } from '@tracker/db'
import type { PlaceGeometry } from './place-distance.ts'

/** An enabled rule that applies to one tracker, with its place's geometry. */
export interface ApplicableRule {
  id: string
  name: string
  kind: AlertRuleKind
  hysteresisM: number
  confirmations: number
  notSeenSeconds: number | null
  batteryAtOrBelow: BatteryThreshold | null
  channelIds: string[]
  muted: boolean
  createdAt: Date
  place: ({ id: string; name: string } & { geometry: PlaceGeometry }) | null
}

/**
 * The enabled rules that watch a tracker: those for every tracker or listing it, whose place (if
 * any) is for every tracker or lists it too.
 */
export async function applicableRules(
  trx: Transaction<Database>,
  trackerId: string,
): Promise<ApplicableRule[]> {
  const rows = await trx
    .selectFrom('alert_rules as r')
    .leftJoin('alert_places as p', 'p.id', 'r.place_id')
    .select([
      'r.id',
      'r.name',
      'r.kind',
      'r.hysteresis_m',
      'r.confirmations',
      'r.not_seen_seconds',
      'r.battery_at_or_below',
      'r.channel_ids',
      'r.muted',
      'r.created_at',
      'p.id as place_id',
      'p.name as place_name',
      'p.shape',
      'p.center_latitude',
      'p.center_longitude',
      'p.radius_m',
      'p.polygon',
    ])
    .where('r.enabled', '=', true)
    .where((eb) =>
      eb.or([eb('r.tracker_ids', 'is', null), eb(eb.val(trackerId), '=', eb.fn.any('r.tracker_ids'))]),
    )
    .where((eb) =>
      eb.or([eb('p.tracker_ids', 'is', null), eb(eb.val(trackerId), '=', eb.fn.any('p.tracker_ids'))]),
    )
    .orderBy('r.created_at')
    .execute()
  return rows.map((row) => ({
    id: row.id,
    name: row.name,
    kind: row.kind,
    hysteresisM: row.hysteresis_m,
    confirmations: row.confirmations,
    notSeenSeconds: row.not_seen_seconds,
    batteryAtOrBelow: row.battery_at_or_below,
    channelIds: row.channel_ids,
    muted: row.muted,
    createdAt: row.created_at,
    place:
      row.place_id === null || row.place_name === null
        ? null
        : { id: row.place_id, name: row.place_name, geometry: geometryOf(row) },
  }))
}

function geometryOf(row: {
  shape: 'circle' | 'polygon' | null
  center_latitude: number | null
  center_longitude: number | null
  radius_m: number | null
  polygon: PolygonCoordinates | null
}): PlaceGeometry {
  if (row.shape === 'polygon' && row.polygon) return { shape: 'polygon', coordinates: row.polygon }
  return {
    shape: 'circle',
    latitude: row.center_latitude!,
    longitude: row.center_longitude!,
    radiusM: row.radius_m!,
  }
}
