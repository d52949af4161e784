import { HOUR_MS } from '@tracker/db'
import { createTestDatabase, type TestDatabase } from '@tracker/db/testing'
import { InProcessLockService } from '@tracker/locks'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startImporter } from '../src/importer.ts'
import { coverageGap } from '../src/run/coverage-gaps.ts'
import { importFixture, silent } from './fixtures.ts'

let database: TestDatabase
beforeAll(async () => {
  database = await createTestDatabase()
})
afterAll(() => database?.close())

const MINUTE = 60_000
/** Apple since 2026: each key's answer holds only its newest 16 reports (4 hours at one every 15 minutes). */
const LATEST = 16

describe('coverage gaps, against the simulator keeping only the latest reports per key', () => {
  it('are recorded exactly where the endpoint dropped reports before a poll saw them, and nowhere else', async () => {
    // The simulator's clock moves between polls; it stays behind the real one (reports from the
    // future are rejected).
    let simulatedNow = Math.floor((Date.now() - 20 * HOUR_MS) / MINUTE) * MINUTE
    const fixture = await importFixture(database, {
      trackers: 2,
      keysPerTracker: 1,
      simulator: {
        reportsPerDay: 96,
        gaps: false,
        latestPerKey: LATEST,
        ignoreDays: true,
        now: () => new Date(simulatedNow),
      },
    })
    const network = fixture.simulator.network
    const running = await startImporter({
      database,
      locks: new InProcessLockService(),
      logger: silent,
      config: fixture.config,
      http: false,
      schedule: false,
      decryptThreads: 0,
    })
    const keyIds = fixture.trackers.flatMap((t) => t.keys.map((k) => k.hashedAdvKey))
    const stored = async () => {
      const rows = await database.db
        .selectFrom('location_reports')
        .select(['hashed_adv_key', 'timestamp'])
        .where('tracker_id', 'in', fixture.trackerIds)
        .execute()
      return new Set(rows.map((r) => `${r.hashed_adv_key}|${r.timestamp.getTime()}`))
    }
    const gapRows = () =>
      database.db
        .selectFrom('coverage_gaps')
        .selectAll()
        .where('tracker_id', 'in', fixture.trackerIds)
        .orderBy('hashed_adv_key')
        .execute()
    try {
      // First poll: nothing stored before, so nothing can be said about what came before it.
      const first = await running.runNow()
      expect(first.outcome).toBe('succeeded')
      expect(first.totals?.reportsInserted).toBe(LATEST * keyIds.length)
      expect(first.run?.max_reports_per_key).toBe(LATEST)
      expect(await gapRows()).toEqual([])

      // Two hours later: about 8 new reports per key, fewer than the endpoint keeps: nothing lost.
      const storedFirst = await stored()
      simulatedNow += 2 * HOUR_MS
      // New to the database: made (or published) since the first poll, after its oldest report.
      const oldestFirst = (id: string) =>
        Math.min(
          ...[...storedFirst].filter((k) => k.startsWith(`${id}|`)).map((k) => Number(k.split('|')[1])),
        )
      const madeSince = keyIds.map(
        (id) =>
          network
            .visibleReports({ ids: [id], now: new Date(simulatedNow) })
            .filter(
              (r) =>
                !storedFirst.has(`${id}|${r.timestamp.getTime()}`) && r.timestamp.getTime() > oldestFirst(id),
            ).length,
      )
      for (const made of madeSince) expect(made).toBeGreaterThan(4)
      for (const made of madeSince) expect(made).toBeLessThan(LATEST)
      const second = await running.runNow()
      expect(second.totals?.reportsInserted).toBe(madeSince.reduce((a, b) => a + b, 0))
      expect(second.totals?.coverageGaps).toBe(0)
      expect(await gapRows()).toEqual([])

      // Ten hours later: about 40 new reports per key, the endpoint keeps 16: the rest were dropped.
      const before = await stored()
      const newestBefore = new Map(
        keyIds.map((id) => [
          id,
          Math.max(...[...before].filter((k) => k.startsWith(`${id}|`)).map((k) => Number(k.split('|')[1]))),
        ]),
      )
      simulatedNow += 10 * HOUR_MS
      const third = await running.runNow()
      expect(third.outcome).toBe('succeeded')
      expect(third.totals?.coverageGaps).toBe(keyIds.length)
      expect(third.run?.coverage_gaps).toBe(keyIds.length)

      const after = await stored()
      const gaps = await gapRows()
      expect(gaps.map((g) => g.hashed_adv_key).sort()).toEqual([...keyIds].sort())
      for (const gap of gaps) {
        const truth = network.visibleReports({ ids: [gap.hashed_adv_key], now: new Date(simulatedNow) })
        // Reports made since the newest stored before the poll that no poll stored.
        const lost = truth.filter(
          (r) =>
            r.timestamp.getTime() > newestBefore.get(gap.hashed_adv_key)! &&
            !after.has(`${r.hashedAdvKey}|${r.timestamp.getTime()}`),
        )
        // The gap runs from the newest report stored before the poll to the oldest it returned...
        expect(gap.gap_from.getTime()).toBe(newestBefore.get(gap.hashed_adv_key))
        const served = network.servedReports({ ids: [gap.hashed_adv_key], now: new Date(simulatedNow) })
        expect(gap.gap_to.getTime()).toBe(served[0]!.timestamp.getTime())
        expect(gap).toMatchObject({
          reports_returned: LATEST,
          endpoint_limit: LATEST,
          import_run_id: third.runId,
        })
        // ...and holds every report lost, and only lost ones.
        // About 40 made in ten hours (one every 15 minutes); the endpoint kept the newest 16.
        const made = truth.filter((r) => r.timestamp.getTime() > newestBefore.get(gap.hashed_adv_key)!).length
        expect(made).toBeGreaterThan(LATEST + 20)
        expect(lost.length).toBe(made - LATEST)
        for (const report of lost) {
          expect(report.timestamp.getTime()).toBeGreaterThan(gap.gap_from.getTime())
          expect(report.timestamp.getTime()).toBeLessThan(gap.gap_to.getTime())
        }
        const inside = truth.filter(
          (r) =>
            r.timestamp.getTime() > gap.gap_from.getTime() && r.timestamp.getTime() < gap.gap_to.getTime(),
        )
        expect(inside.length).toBe(lost.length)
      }

      // The same answer again finds nothing new: the gap is behind the newest report now.
      const fourth = await running.runNow()
      expect(fourth.totals?.coverageGaps).toBe(0)
      expect(await gapRows()).toHaveLength(keyIds.length)

      const metrics = await running.metrics.registry.metrics()
      // Decryption ran on the system's libcrypto (this machine has it; the fallback is tested in findmy).
      expect(metrics).toMatch(/^tracker_import_p224_backend\{backend="libcrypto"\} 1$/m)
      expect(metrics).toMatch(new RegExp(`^tracker_import_coverage_gaps_total ${keyIds.length}$`, 'm'))
      const seconds = gaps.reduce((s, g) => s + (g.gap_to.getTime() - g.gap_from.getTime()) / 1000, 0)
      expect(metrics).toMatch(new RegExp(`^tracker_import_coverage_gap_seconds_total ${seconds}$`, 'm'))
    } finally {
      await running.stop()
    }
  })
})

describe('the gap rule', () => {
  const base = { hashedAdvKey: 'k', trackerId: 't' }
  const at = (h: number) => new Date(Date.UTC(2026, 10, 29, h))
  it('needs a full answer, something stored before, and the answer starting after it', () => {
    const full = { count: 16, oldest: at(10) }
    expect(coverageGap({ ...base, newestStored: at(4), answer: full }, 16)).toMatchObject({
      gap_from: at(4),
      gap_to: at(10),
      reports_returned: 16,
      endpoint_limit: 16,
    })
    // Not full: the endpoint gave everything it had since then.
    expect(
      coverageGap({ ...base, newestStored: at(4), answer: { count: 15, oldest: at(10) } }, 16),
    ).toBeNull()
    // Overlapping what is stored: nothing can be missing between.
    expect(coverageGap({ ...base, newestStored: at(10), answer: full }, 16)).toBeNull()
    expect(coverageGap({ ...base, newestStored: at(11), answer: full }, 16)).toBeNull()
    // Nothing stored: nothing to compare with.
    expect(coverageGap({ ...base, newestStored: null, answer: full }, 16)).toBeNull()
    // A limit of one report per key would make every answer "full".
    expect(coverageGap({ ...base, newestStored: at(4), answer: { count: 1, oldest: at(10) } }, 1)).toBeNull()
  })
})
