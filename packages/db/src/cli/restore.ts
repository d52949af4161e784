import { restoreDataDir } from '../backup/data-dir-backup.ts'
import { readCliEnv } from './env.ts'
import { runCli } from './run-cli.ts'

// `npm run db:restore -- FILE [--force]`: a db:backup file into the embedded data directory (DATA_DIR).
await runCli(async () => {
  const args = process.argv.slice(2)
  const force = args.includes('--force')
  const files = args.filter((a) => a !== '--force')
  const file = files[0]
  if (!file || files.length > 1 || file.startsWith('-')) {
    throw new Error(
      'usage: npm run db:restore -- FILE [--force]   (--force replaces a data directory that is not empty)',
    )
  }
  const { connect } = readCliEnv()
  if (connect.mode !== 'embedded' || !connect.dataDir) {
    throw new Error(
      'db:restore restores the embedded database in DATA_DIR; DATABASE_URL points at a server: restore ' +
        'it with pg_restore (README, Operations: "Backup and restore")',
    )
  }
  const { dataDir, manifest, counts } = await restoreDataDir(file, connect.dataDir, { force })
  console.log(
    `restored ${file} (taken ${manifest.createdAt} from ${manifest.dataDir}) into ${dataDir}: ` +
      `${counts.trackers} trackers, ${counts.locationReports} raw reports, ${counts.locationHistory} ` +
      'location_history rows, as the backup recorded',
  )
  console.log('Next: npm run db:migrate (if this checkout has newer migrations), then start as usual.')
})
