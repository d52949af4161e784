import { type EmbeddedDatabase, sql } from '@tracker/db'
import { createTestDatabase, type TestDatabase, withAppRoles } from '@tracker/db/testing'
import { InProcessLockService } from '@tracker/locks'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startImporter } from '../src/index.ts'
import { countReports, expectedReports, fixedNow, importFixture, silent } from './fixtures.ts'

// The importer under its own database role (applyAppRoles, as the migrate step makes it with
// DB_ROLES=on): a real import against the simulator, every statement under SET ROLE tracker_importer.
let owner: TestDatabase
let asImporter: EmbeddedDatabase
beforeAll(async () => {
  owner = await createTestDatabase()
  const asRole = await withAppRoles(owner)
  asImporter = asRole('importer')
})
afterAll(async () => {
  await asImporter?.close()
  await owner?.close()
})

describe('the importer under its database role', () => {
  it('imports every report of the simulator, and still cannot write tokens or drop tables', async () => {
    const fixture = await importFixture(owner, { seed: 11 })
    const expected = expectedReports(fixture, fixedNow()())
    const running = await startImporter({
      database: asImporter,
      locks: new InProcessLockService(),
      logger: silent,
      config: fixture.config,
      http: false,
      schedule: false,
      decryptThreads: 0,
    })
    try {
      const result = await running.runNow()
      expect(result.outcome).toBe('succeeded')
      expect(await countReports(owner, fixture.trackerIds)).toBe(expected.length)
    } finally {
      await running.stop()
    }
    await expect(
      sql`INSERT INTO api_tokens (name, token_hash, scope) VALUES ('x', 'y', 'admin')`.execute(asImporter.db),
    ).rejects.toThrow(/permission denied/)
    await expect(sql`DROP TABLE location_reports`.execute(asImporter.db)).rejects.toThrow(/must be owner/)
  })
})
