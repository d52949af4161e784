import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { applyStoragePolicies, DAY_MS, DEFAULT_RETENTION, HOUR_MS } from '../src/index.ts'
import { createTestDatabase, type TestDatabase } from '../src/testing/index.ts'

let database: TestDatabase
beforeAll(async () => {
  database = await createTestDatabase()
})
afterAll(() => database?.close())

const seconds = (ms: number) => ms / 1000

/**
 * The policy jobs on this project's hypertable and aggregates. A server registers jobs of its own
 * (telemetry, job history retention) that belong to no hypertable, and which depends on its build.
 */
async function jobs() {
  const { rows } = await sql<{
    proc_name: string
    object: string
    schedule_s: number
    config: Record<string, string>
  }>`
    SELECT j.proc_name, coalesce(ca.view_name, j.hypertable_name) AS object,
           extract(epoch FROM j.schedule_interval)::int AS schedule_s, j.config
      FROM timescaledb_information.jobs j
      LEFT JOIN timescaledb_information.continuous_aggregates ca
        ON ca.materialization_hypertable_schema = j.hypertable_schema
       AND ca.materialization_hypertable_name = j.hypertable_name
     WHERE coalesce(ca.view_name, j.hypertable_name) IN ('location_reports', 'location_history_hourly', 'location_history_daily')
     ORDER BY 2, 1`.execute(database.db)
  return rows
}

async function intervalSeconds(value: string | undefined) {
  const { rows } = await sql<{ s: number }>`SELECT extract(epoch FROM ${value}::interval)::int AS s`.execute(
    database.db,
  )
  return rows[0]!.s
}

describe('TimescaleDB objects, read back from timescaledb_information', () => {
  it('location_reports is a hypertable on timestamp with 1-day chunks', async () => {
    const { rows } = await sql<{ column_name: string; s: number }>`
      SELECT column_name, extract(epoch FROM time_interval)::int AS s
        FROM timescaledb_information.dimensions WHERE hypertable_name = 'location_reports'`.execute(
      database.db,
    )
    expect(rows).toEqual([{ column_name: 'timestamp', s: seconds(DAY_MS) }])
  })

  it('compresses location_reports segmented by tracker and ordered by time', async () => {
    const { rows } = await sql<{
      attname: string
      segmentby_column_index: number | null
      orderby_column_index: number | null
      orderby_asc: boolean | null
    }>`
      SELECT attname, segmentby_column_index, orderby_column_index, orderby_asc
        FROM timescaledb_information.compression_settings
       WHERE hypertable_name = 'location_reports' ORDER BY attname`.execute(database.db)
    expect(rows.find((r) => r.attname === 'tracker_id')).toMatchObject({ segmentby_column_index: 1 })
    expect(rows.find((r) => r.attname === 'timestamp')).toMatchObject({
      orderby_column_index: 1,
      orderby_asc: false,
    })
  })

  it('both aggregates exist with real-time aggregation on and small enough chunks for their retention', async () => {
    const { rows } = await sql<{ view_name: string; materialized_only: boolean; chunk_s: number }>`
      SELECT ca.view_name, ca.materialized_only, extract(epoch FROM d.time_interval)::int AS chunk_s
        FROM timescaledb_information.continuous_aggregates ca
        JOIN timescaledb_information.dimensions d ON d.hypertable_name = ca.materialization_hypertable_name
       ORDER BY 1`.execute(database.db)
    expect(rows).toEqual([
      { view_name: 'location_history_daily', materialized_only: false, chunk_s: seconds(7 * DAY_MS) },
      { view_name: 'location_history_hourly', materialized_only: false, chunk_s: seconds(2 * HOUR_MS) },
    ])
  })

  it('every policy is registered as configured', async () => {
    const found = await jobs()
    const byKey = new Map(found.map((j) => [`${j.object} ${j.proc_name}`, j]))
    const expectInterval = async (key: string, field: string, ms: number) =>
      expect(await intervalSeconds(byKey.get(key)?.config[field])).toBe(seconds(ms))

    await expectInterval(
      'location_reports policy_compression',
      'compress_after',
      DEFAULT_RETENTION.rawCompressAfterMs,
    )
    await expectInterval('location_reports policy_retention', 'drop_after', DEFAULT_RETENTION.rawRetentionMs)
    await expectInterval(
      'location_history_hourly policy_retention',
      'drop_after',
      DEFAULT_RETENTION.hourlyRetentionMs,
    )
    await expectInterval(
      'location_history_daily policy_retention',
      'drop_after',
      DEFAULT_RETENTION.dailyRetentionMs,
    )
    const hourly = 'location_history_hourly policy_refresh_continuous_aggregate'
    const daily = 'location_history_daily policy_refresh_continuous_aggregate'
    await expectInterval(hourly, 'start_offset', DEFAULT_RETENTION.hourlyRefreshWindowMs)
    await expectInterval(hourly, 'end_offset', HOUR_MS)
    await expectInterval(daily, 'start_offset', DEFAULT_RETENTION.dailyRefreshWindowMs)
    await expectInterval(daily, 'end_offset', DAY_MS)
    expect(byKey.get(hourly)?.schedule_s).toBe(seconds(HOUR_MS))
    expect(byKey.get(daily)?.schedule_s).toBe(seconds(DAY_MS))
    expect(found).toHaveLength(6)
  })

  it('applyStoragePolicies changes only what differs and the database then matches the configuration', async () => {
    expect(await applyStoragePolicies(database.db, DEFAULT_RETENTION)).toEqual([])
    const custom = { ...DEFAULT_RETENTION, rawRetentionMs: 14 * DAY_MS, dailyRefreshWindowMs: 10 * DAY_MS }
    expect(await applyStoragePolicies(database.db, custom)).toEqual([
      'location_reports retention',
      'location_history_daily refresh policy',
    ])
    const found = await jobs()
    const retention = found.find((j) => j.object === 'location_reports' && j.proc_name === 'policy_retention')
    expect(await intervalSeconds(retention?.config.drop_after)).toBe(seconds(14 * DAY_MS))
    expect(await applyStoragePolicies(database.db, custom)).toEqual([])
    await applyStoragePolicies(database.db, DEFAULT_RETENTION)
  })

  it('refuses to apply an inconsistent configuration', async () => {
    await expect(
      applyStoragePolicies(database.db, { ...DEFAULT_RETENTION, rawRetentionMs: 2 * DAY_MS }),
    ).rejects.toThrow(/RAW_RETENTION/)
  })
})
