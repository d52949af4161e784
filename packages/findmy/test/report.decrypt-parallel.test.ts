import { describe, expect, it } from 'vitest'
import {
  DecryptionPoolClosedError,
  decryptReports,
  decryptReportsParallel,
  type EndpointReport,
  ReportDecryptionPool,
  SimulatedNetwork,
  simulatedTrackers,
} from '../src/index.ts'

const trackers = simulatedTrackers({ seed: 4, trackers: 3, keysPerTracker: 2 })
const keys = new Map(trackers.flatMap((t) => t.keys.map((k) => [k.hashedAdvKey, k.privateKey] as const)))
const network = new SimulatedNetwork({ trackers, seed: 4, corruptShare: 0.1, reportsPerDay: 48 })
const reports: EndpointReport[] = network
  .visibleReports({ days: 2, now: new Date('2026-01-20T00:00:00Z') })
  .map((r) => ({ id: r.hashedAdvKey, datePublished: r.datePublished, payload: r.payload }))
reports.push({ id: 'unknown', datePublished: 1, payload: reports[0]!.payload })

describe('decryption on worker threads', () => {
  it('gives exactly what single-threaded decryption gives, in the same order', async () => {
    const expected = decryptReports(keys, reports)
    expect(expected.rejected.length).toBeGreaterThan(1)
    expect(await decryptReportsParallel(keys, reports, { threads: 2, chunkSize: 37 })).toEqual(expected)
  })

  it('serves several batches from one pool and refuses work once closed', async () => {
    const pool = new ReportDecryptionPool({ threads: 2, chunkSize: 50 })
    try {
      const [first, second] = await Promise.all([
        pool.decrypt(keys, reports.slice(0, 60)),
        pool.decrypt(keys, reports.slice(60, 120)),
      ])
      expect(first).toEqual(decryptReports(keys, reports.slice(0, 60)))
      expect(second).toEqual(decryptReports(keys, reports.slice(60, 120)))
    } finally {
      await pool.close()
    }
    await expect(pool.decrypt(keys, reports)).rejects.toThrow(DecryptionPoolClosedError)
  })
})
