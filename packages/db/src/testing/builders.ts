import { createHash, randomBytes } from 'node:crypto'
import type { Kysely } from 'kysely'
import type { Database } from '../schema/database.ts'
import type { NewLocationReport } from '../schema/location-report.table.ts'

/** A well-formed hashed advertisement key (base64 of a SHA-256), random unless seeded. */
export function hashedAdvKey(seed?: string): string {
  return createHash('sha256')
    .update(seed ?? randomBytes(16))
    .digest('base64')
}

/** Inserts a tracker with `keys` keys; the private key bytes are placeholders sealed by nobody. */
export async function insertTracker(
  db: Kysely<Database>,
  options: { name?: string; keys?: number; isActive?: boolean } = {},
): Promise<{ id: string; name: string; hashedAdvKeys: string[] }> {
  const name = options.name ?? `tracker-${randomBytes(3).toString('hex')}`
  const tracker = await db
    .insertInto('trackers')
    .values({ name, is_active: options.isActive ?? true })
    .returning('id')
    .executeTakeFirstOrThrow()
  const hashedAdvKeys = Array.from({ length: options.keys ?? 1 }, () => hashedAdvKey())
  await db
    .insertInto('tracker_keys')
    .values(
      hashedAdvKeys.map((hashed) => ({
        tracker_id: tracker.id,
        hashed_adv_key: hashed,
        private_key_encrypted: Buffer.from('not-a-real-sealed-key-used-in-tests'),
      })),
    )
    .execute()
  return { id: tracker.id, name, hashedAdvKeys }
}

export function reportRow(
  hashedAdvKey: string,
  timestamp: Date,
  overrides: Partial<NewLocationReport> = {},
): NewLocationReport {
  return {
    hashed_adv_key: hashedAdvKey,
    timestamp,
    latitude: 52.52,
    longitude: 13.405,
    horizontal_accuracy: 10,
    confidence: 2,
    status: 0,
    nearest_city: 'Berlin, DE',
    ...overrides,
  }
}
