import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sql } from 'kysely'
import { afterAll, describe, expect, it } from 'vitest'
import { connectEmbedded } from '../src/connect/embedded.ts'
import { DataDirInUseError, HISTORY_REFRESHED_CHANNEL, migrateToLatest } from '../src/index.ts'
import { insertTracker, reportRow } from '../src/testing/index.ts'

// Embedded-only behaviour: persistence in a data directory, its lock, the policy job runner.
const dataDir = mkdtempSync(join(tmpdir(), 'tracker-embedded-'))
afterAll(() => rmSync(dataDir, { recursive: true, force: true }))

describe('the embedded engine with a data directory', () => {
  it('keeps its data across restarts and TimescaleDB works in the reopened database', async () => {
    const first = await connectEmbedded({ dataDir })
    await migrateToLatest(first.db)
    const tracker = await insertTracker(first.db)
    await first.db
      .insertInto('location_reports')
      .values(reportRow(tracker.hashedAdvKeys[0]!, new Date(Date.now() - 3_600_000)))
      .execute()
    await first.close()

    const second = await connectEmbedded({ dataDir })
    try {
      const trackers = await second.db.selectFrom('trackers').select('id').execute()
      expect(trackers).toEqual([{ id: tracker.id }])
      // Hypertable routing and TSL functions must be active in the reopened session.
      await second.db
        .insertInto('location_reports')
        .values(reportRow(tracker.hashedAdvKeys[0]!, new Date()))
        .execute()
      await sql`CALL refresh_continuous_aggregate('location_history_hourly', now() - interval '2 hours', now() + interval '1 hour')`.execute(
        second.db,
      )
      const rows = await second.db
        .selectFrom('location_history_hourly')
        .select('report_count')
        .where('tracker_id', '=', tracker.id)
        .execute()
      expect(rows.reduce((sum, r) => sum + r.report_count, 0)).toBe(2)
    } finally {
      await second.close()
    }
  })

  // Another process (a real one: the lock is per process) trying to take the same directory.
  const lockFromAnotherProcess = () => {
    const script = `import('${join(import.meta.dirname, '../src/connect/data-dir-lock.ts')}').then(m => { try { m.lockDataDir(${JSON.stringify(dataDir)}); console.log('locked') } catch (e) { console.log(e.code + ' ' + e.message) } })`
    return execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }).trim()
  }

  it('refuses a second opener while the first holds the directory, and names the holder', async () => {
    const first = await connectEmbedded({ dataDir })
    try {
      expect(lockFromAnotherProcess()).toMatch(new RegExp(`^DATA_DIR_IN_USE .*pid ${process.pid}`))
    } finally {
      await first.close()
    }
    // Released on close: another process gets it. That process exits without releasing (a crash)...
    expect(lockFromAnotherProcess()).toBe('locked')
    // ...and its stale lock does not block the next start.
    const again = await connectEmbedded({ dataDir })
    await again.close()
  })

  it('refuses a second open from the same process too', async () => {
    const first = await connectEmbedded({ dataDir })
    try {
      await expect(connectEmbedded({ dataDir })).rejects.toBeInstanceOf(DataDirInUseError)
    } finally {
      await first.close()
    }
  })
})

describe('the policy job runner', () => {
  it('runs every registered policy job, and then only those whose schedule has come round', async () => {
    const database = await connectEmbedded()
    try {
      await migrateToLatest(database.db)
      const jobs = await database.policyJobs.listJobs()
      expect(jobs.map((j) => j.procName).sort()).toEqual([
        'policy_compression',
        'policy_job_stat_history_retention',
        'policy_refresh_continuous_aggregate',
        'policy_refresh_continuous_aggregate',
        'policy_retention',
        'policy_retention',
        'policy_retention',
      ])
      const t0 = Date.now()
      const first = await database.policyJobs.runDueJobs(t0)
      expect(first.map((r) => r.ok)).toEqual(jobs.map(() => true))
      // 90 minutes later only the hourly refresh is due again.
      const later = await database.policyJobs.runDueJobs(t0 + 90 * 60_000)
      expect(later.map((r) => r.job.procName)).toEqual(['policy_refresh_continuous_aggregate'])
      expect(later[0]!.job.scheduleIntervalMs).toBe(3_600_000)
    } finally {
      await database.close()
    }
  })

  it('says so on location_history_refreshed after each aggregate refresh job (a server worker cannot)', async () => {
    const database = await connectEmbedded()
    try {
      await migrateToLatest(database.db)
      const objects: string[] = []
      const listener = await database.listen(HISTORY_REFRESHED_CHANNEL, {
        onNotification: (payload) => objects.push((JSON.parse(payload) as { object: string }).object),
      })
      try {
        const runs = await database.policyJobs.runAll()
        const refreshJobs = runs.filter((r) => r.job.procName === 'policy_refresh_continuous_aggregate')
        expect(refreshJobs.map((r) => r.ok)).toEqual([true, true])
        await expect.poll(() => objects.length).toBe(2)
        expect(objects.sort()).toEqual(refreshJobs.map((r) => r.job.objectName).sort())
      } finally {
        await listener.close()
      }
    } finally {
      await database.close()
    }
  })
})
